import { ServerError, Status } from "nice-grpc";
import { ErrorInfo, RichServerError } from "nice-grpc-error-details";
import {
  CapacityError,
  ConductorError,
  InvalidArgumentError,
  JobCancelledError,
  JobFailedError,
  LeaseMismatchError,
  MAX_MESSAGE_LENGTH,
  NoDataLeftError,
  PushAbortedError,
  ResultsNotRetainedError,
  TicketClosedError,
  TicketNotFoundError,
  truncateMessage,
  UnknownKindError,
} from "../core/errors.js";
import { MalformedRequest } from "./definition.js";

/** ErrorInfo.domain of every error this server sends. */
export const ERROR_DOMAIN = "conductor";

const CODES = new Map<abstract new (...args: never[]) => ConductorError, Status>([
  [TicketNotFoundError, Status.NOT_FOUND],
  [NoDataLeftError, Status.OUT_OF_RANGE],
  [JobCancelledError, Status.CANCELLED],
  [TicketClosedError, Status.FAILED_PRECONDITION],
  [LeaseMismatchError, Status.FAILED_PRECONDITION],
  // The requested results are gone for good; a client must not mistake
  // that for the normal end of the stream (OUT_OF_RANGE).
  [ResultsNotRetainedError, Status.DATA_LOSS],
  [InvalidArgumentError, Status.INVALID_ARGUMENT],
  [UnknownKindError, Status.INVALID_ARGUMENT],
  [CapacityError, Status.RESOURCE_EXHAUSTED],
  [PushAbortedError, Status.DEADLINE_EXCEEDED],
]);

/**
 * Turns what a handler threw into the error sent to the client, or
 * undefined for an unexpected error, which the caller logs once and
 * replaces with a generic INTERNAL status.
 */
export function toServerError(error: unknown): ServerError | undefined {
  if (error instanceof ServerError) {
    if (error.details.length <= MAX_MESSAGE_LENGTH) return error;
    return new ServerError(error.code, truncateMessage(error.details));
  }
  if (error instanceof JobFailedError) {
    return richError(jobCode(error.code), error.message, error);
  }
  if (error instanceof ConductorError) {
    const code = CODES.get(error.constructor as never) ?? Status.UNKNOWN;
    return richError(code, error.message, error);
  }
  if (error instanceof MalformedRequest) return malformed(error);
  if (isAbort(error)) return new ServerError(Status.CANCELLED, "call cancelled");
  return undefined;
}

/** Returns the status code of a failed job: its own, or UNKNOWN when invalid. */
function jobCode(code: number): Status {
  const valid = Number.isInteger(code) && code > 0 && code <= 16;
  return valid ? (code as Status) : Status.UNKNOWN;
}

function richError(code: Status, message: string, error: ConductorError) {
  message = truncateMessage(message);
  const info = ErrorInfo.fromPartial({
    reason: error.reason,
    domain: ERROR_DOMAIN,
    metadata: error.metadata(),
  });
  return new RichServerError(code, message, [info]);
}

function malformed(request: MalformedRequest): ServerError {
  const cause = request.cause instanceof Error ? request.cause.message : "";
  return new RichServerError(
    Status.INVALID_ARGUMENT,
    `malformed ${request.typeName} message: ${cause}`,
    [
      ErrorInfo.fromPartial({
        reason: "MALFORMED_REQUEST",
        domain: ERROR_DOMAIN,
        metadata: { type: request.typeName },
      }),
    ],
  );
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}
