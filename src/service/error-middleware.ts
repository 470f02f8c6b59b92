import {
  type CallContext,
  ServerError,
  type ServerMiddleware,
  type ServerMiddlewareCall,
  Status,
} from "nice-grpc";
import type { Logger } from "pino";
import { MalformedRequest } from "./definition.js";
import { toServerError } from "./status.js";

/**
 * Rejects malformed requests and turns every error a handler throws into a
 * gRPC status. Unexpected errors reach the client as a generic INTERNAL
 * status and are logged once with their stack, unless the call had ended
 * before: see endedCallError.
 */
export function errorMiddleware(logger: Logger): ServerMiddleware {
  return async function* handleErrors<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ) {
    try {
      const request = call.requestStream
        ? (checkStream(call.request as AsyncIterable<unknown>) as Request)
        : checkMessage(call.request);
      return yield* call.next(request, context);
    } catch (error) {
      const mapped = toServerError(error);
      if (mapped) throw mapped;
      if (context.signal.aborted) throw endedCallError(logger, call.method.path, error);
      logger.error({ err: error, method: call.method.path }, "handler failed");
      throw new ServerError(Status.INTERNAL, "internal error");
    }
  };
}

/**
 * Logs, at debug level, an error thrown after the call's signal aborted,
 * and returns the CANCELLED error to throw. Such an error is an
 * after-effect of the end. For example, when a shutdown ends a call whose
 * request stream is still open, grpc-js fails that stream with the status
 * just sent, which is a plain object and no Error.
 */
function endedCallError(logger: Logger, method: string, error: unknown): ServerError {
  logger.debug(
    { method, error: describeError(error) },
    "handler ended after its call ended",
  );
  return new ServerError(Status.CANCELLED, "call cancelled");
}

/** Returns the message of an Error, or the details of a gRPC status object. */
function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "details" in error) {
    return String(error.details);
  }
  return String(error);
}

function checkMessage<T>(message: T): T {
  if (message instanceof MalformedRequest) throw message;
  return message;
}

async function* checkStream(messages: AsyncIterable<unknown>) {
  for await (const message of messages) yield checkMessage(message);
}
