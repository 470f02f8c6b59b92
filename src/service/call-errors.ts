import { ServerError, Status } from "nice-grpc";
import type { Logger } from "pino";
import { MalformedRequest } from "./definition.js";
import { toServerError } from "./status.js";

/** A call whose handler threw, described by what decides its status. */
export interface FailedCall {
  readonly path: string;
  /** True when the client went away. */
  readonly clientGone: boolean;
  /** True when the client went away or a shutdown ended the call. */
  readonly ended: boolean;
}

/**
 * Turns what a handler threw into the status the client gets. A client that
 * went away gets CANCELLED whatever the handler threw. Unexpected errors
 * reach the client as a generic INTERNAL status and are logged once with
 * their stack, unless the call had ended before: see endedCallError.
 */
export function callError(error: unknown, call: FailedCall, logger: Logger): ServerError {
  const mapped = toServerError(error);
  if (call.clientGone) return new ServerError(Status.CANCELLED, "call cancelled");
  if (mapped) return mapped;
  if (call.ended) return endedCallError(logger, call.path, error);
  logger.error({ err: error, method: call.path }, "handler failed");
  return new ServerError(Status.INTERNAL, "internal error");
}

/**
 * Logs, at debug level, an error thrown after the call's signal aborted,
 * and returns the CANCELLED error to send. Such an error is an
 * after-effect of the end. For example, when a shutdown ends a call whose
 * request stream is still open, grpc-js fails that stream with the status
 * just sent, which is a plain object and no Error.
 */
function endedCallError(logger: Logger, method: string, error: unknown): ServerError {
  logEndedCall(logger, method, error);
  return new ServerError(Status.CANCELLED, "call cancelled");
}

/** Logs, at debug level, an error a handler threw after its call ended. */
export function logEndedCall(logger: Logger, method: string, error: unknown): void {
  logger.debug(
    { method, error: describeError(error) },
    "handler ended after its call ended",
  );
}

/** Returns the message of an Error, or the details of a gRPC status object. */
function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "details" in error) {
    return String(error.details);
  }
  return String(error);
}

/** Throws a request that failed to decode; returns any other unchanged. */
export function checkMessage<T>(message: T): T {
  if (message instanceof MalformedRequest) throw message;
  return message;
}

/** Yields the messages of a request stream, and throws at the first one that failed to decode. */
export async function* checkStream<T>(messages: AsyncIterable<T>): AsyncGenerator<T> {
  for await (const message of messages) yield checkMessage(message);
}
