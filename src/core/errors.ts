/**
 * Maximum length of an error message kept or sent, in characters. gRPC carries the
 * message in a trailer, and a client fails on a trailer past its header
 * size limit: a 100,000-character message left grpc-js 1.14 clients
 * hanging. Longer messages are cut.
 */
export const MAX_MESSAGE_LENGTH = 1024;

/** Cuts `message` to MAX_MESSAGE_LENGTH characters, marking the cut. */
export function truncateMessage(message: string): string {
  if (message.length <= MAX_MESSAGE_LENGTH) return message;
  return `${message.slice(0, MAX_MESSAGE_LENGTH - 15)}... (truncated)`;
}

/**
 * Errors the core raises. Each names the ticket it concerns; the service
 * layer maps them to gRPC status codes in one place (service/status.ts).
 */
export abstract class ConductorError extends Error {
  /** Stable reason, sent to clients as google.rpc.ErrorInfo.reason. */
  abstract readonly reason: string;

  /** Extra key-value facts for ErrorInfo.metadata. */
  metadata(): Record<string, string> {
    return {};
  }
}

/** The ticket never existed or has expired. */
export class TicketNotFoundError extends ConductorError {
  readonly reason = "TICKET_NOT_FOUND";

  constructor(readonly ticket: bigint) {
    super(`no such ticket: ${ticket}`);
  }

  override metadata() {
    return { ticket: String(this.ticket) };
  }
}

/** The job succeeded and every result has been delivered. */
export class NoDataLeftError extends ConductorError {
  readonly reason = "NO_DATA_LEFT";

  constructor(readonly ticket: bigint) {
    super(`no data left: ticket ${ticket} finished and all results were delivered`);
  }

  override metadata() {
    return { ticket: String(this.ticket) };
  }
}

/**
 * The job failed. Consumers receive this after the results it pushed;
 * `code` is the gRPC status code its work chose.
 */
export class JobFailedError extends ConductorError {
  readonly reason = "JOB_FAILED";

  constructor(
    readonly ticket: bigint,
    readonly code: number,
    readonly jobMessage: string,
  ) {
    super(jobMessage);
  }

  override metadata() {
    return { ticket: String(this.ticket) };
  }
}

/** The job was cancelled. Consumers receive this after buffered results. */
export class JobCancelledError extends ConductorError {
  readonly reason = "JOB_CANCELLED";

  constructor(readonly ticket: bigint) {
    super(`job of ticket ${ticket} was cancelled`);
  }

  override metadata() {
    return { ticket: String(this.ticket) };
  }
}

/** A push or finish reached a ticket whose job is no longer running. */
export class TicketClosedError extends ConductorError {
  readonly reason = "TICKET_CLOSED";

  constructor(
    readonly ticket: bigint,
    readonly state: string,
  ) {
    super(`ticket ${ticket} takes no more results: its job is ${state}`);
  }

  override metadata() {
    return { ticket: String(this.ticket), state: this.state };
  }
}

/** A push or finish carried a lease that does not hold the job. */
export class LeaseMismatchError extends ConductorError {
  readonly reason = "LEASE_MISMATCH";

  constructor(readonly ticket: bigint) {
    super(`lease does not hold the job of ticket ${ticket}`);
  }

  override metadata() {
    return { ticket: String(this.ticket) };
  }
}

/** A resumed read asked for results that are no longer retained. */
export class ResultsNotRetainedError extends ConductorError {
  readonly reason = "RESULTS_NOT_RETAINED";

  constructor(
    readonly ticket: bigint,
    readonly requestedSequence: bigint,
    readonly firstAvailableSequence: bigint,
  ) {
    super(
      `result ${requestedSequence} of ticket ${ticket} is no longer retained; ` +
        `the first available sequence is ${firstAvailableSequence}`,
    );
  }

  override metadata() {
    return {
      ticket: String(this.ticket),
      first_available_sequence: String(this.firstAvailableSequence),
    };
  }
}

/** A request value is out of its allowed range or shape. */
export class InvalidArgumentError extends ConductorError {
  readonly reason = "INVALID_ARGUMENT";

  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }

  override metadata() {
    return { field: this.field };
  }
}

/** Exec named a kind that nothing can run. */
export class UnknownKindError extends ConductorError {
  readonly reason = "UNKNOWN_KIND";

  constructor(readonly kind: string) {
    super(`unknown job kind "${kind}": no built-in kind or runner serves it`);
  }

  override metadata() {
    return { kind: this.kind };
  }
}

/** A configured limit was reached, such as the number of live tickets. */
export class CapacityError extends ConductorError {
  readonly reason = "CAPACITY_EXHAUSTED";
}

/**
 * A waiting push gave up because its caller's signal aborted. Results of
 * the batch stored before that stay stored.
 */
export class PushAbortedError extends ConductorError {
  readonly reason = "PUSH_ABORTED";

  constructor(
    readonly ticket: bigint,
    readonly storedCount: number,
    readonly requestedCount: number,
    override readonly cause: unknown,
  ) {
    super(
      `push to ticket ${ticket} stopped waiting for buffer room: ` +
        `stored ${storedCount} of ${requestedCount} results`,
    );
  }

  override metadata() {
    return {
      ticket: String(this.ticket),
      stored_count: String(this.storedCount),
    };
  }
}
