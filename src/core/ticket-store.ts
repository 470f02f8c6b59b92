import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import type { StoredResults } from "./stored-results.js";

/** Lifecycle state of a ticket's job. */
export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** States after which the job pushes nothing more. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set([
  "succeeded",
  "failed",
  "cancelled",
]);

/** One partial result with its per-ticket sequence number (from 1). */
export interface Result {
  readonly sequence: bigint;
  readonly payload: Payload;
}

/** How far the job has got; `total` is 0 when unknown. */
export interface Progress {
  readonly done: bigint;
  readonly total: bigint;
}

/** The status a failed job ended with: a gRPC code and a message. */
export interface JobFailure {
  readonly code: number;
  readonly message: string;
}

/** A point-in-time description of a ticket. Times are epoch milliseconds. */
export interface TicketSnapshot {
  readonly ticket: bigint;
  readonly kind: string;
  readonly state: JobState;
  readonly pushedCount: bigint;
  readonly deliveredCount: bigint;
  readonly bufferedCount: number;
  readonly attempt: number;
  readonly progress: Progress | undefined;
  readonly failure: JobFailure | undefined;
  readonly createTimeMs: number;
  readonly startTimeMs: number | undefined;
  readonly endTimeMs: number | undefined;
  readonly expireTimeMs: number | undefined;
}

/** The kind, input and retry allowance of a new ticket. */
export interface TicketSpec {
  readonly kind: string;
  readonly input: Payload;
  readonly maxRetries: number;
}

/** A job handed to its work: the input plus the lease that may push. */
export interface Lease {
  readonly ticket: bigint;
  readonly kind: string;
  readonly input: Payload;
  readonly attempt: number;
  readonly lease: string;
  readonly maxRetries: number;
}

export interface ReadOptions {
  /**
   * Resume after this sequence: retained results after it are returned
   * again. When undefined, reading starts at the delivery cursor.
   */
  readonly afterSequence?: bigint | undefined;
  readonly maxResults: number;
  /** Stop adding results once their payloads reach this many bytes. */
  readonly maxBytes?: number | undefined;
  /** How long to wait while nothing is available; 0 returns at once. */
  readonly waitMs: number;
  /** Return at once when the progress version is above this. */
  readonly progressVersionSeen?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Results of one read, with the job's state once they were taken. */
export interface ReadBatch {
  readonly results: StoredResults;
  /** True when the results were delivered before and are sent again. */
  readonly replayed: boolean;
  readonly state: JobState;
  readonly progress: Progress | undefined;
  readonly progressVersion: number;
}

export interface PushOptions {
  readonly progress?: Progress | undefined;
  /**
   * Sequence the first payload is meant to get. Payloads whose sequence is
   * already taken are skipped, which makes a retried push idempotent.
   */
  readonly firstSequence?: bigint | undefined;
  /** Aborting stops the wait for buffer room. */
  readonly signal?: AbortSignal | undefined;
}

/** The outcome of a push: its last sequence and how many results it stored. */
export interface PushResult {
  /**
   * Sequence of the push's last result, also when it was stored before.
   * For a push without results, the ticket's last stored sequence.
   */
  readonly lastSequence: bigint;
  /** Results this push stored, without those that firstSequence skipped. */
  readonly storedCount: number;
}

export interface ListFilter {
  readonly state?: JobState | undefined;
  readonly kind?: string | undefined;
  readonly limit: number;
  /**
   * Only tickets created before this one, which need not be live any more:
   * the last ticket of the previous page. Tickets created later never
   * appear on later pages, and none is listed twice.
   */
  readonly before?: bigint | undefined;
}

/**
 * Storage of tickets, their results and their state. The service layer
 * talks to the store only through this interface, so a shared store can
 * replace the in-memory one.
 *
 * Errors: every method on an unknown or expired ticket rejects with
 * TicketNotFoundError.
 */
export interface TicketStore {
  /** Creates a queued ticket. Rejects with CapacityError when full. */
  create(spec: TicketSpec): Promise<bigint>;

  /**
   * Starts a new attempt of a queued ticket and returns its lease. Results
   * of earlier attempts are kept; the attempt number goes up by one.
   * Rejects with TicketClosedError unless the ticket is queued.
   */
  start(ticket: bigint): Promise<Lease>;

  /**
   * Puts a running job back in the queue because the holder of `lease` was
   * lost. Its results stay; waiting pushes of that lease are rejected.
   */
  requeue(ticket: bigint, lease: string): Promise<void>;

  /**
   * Appends results in order and returns what it stored. While
   * the buffer contains `maxData` undelivered results it waits for room,
   * storing what fits as room appears. Rejects with LeaseMismatchError,
   * TicketClosedError, or PushAbortedError when the signal aborts.
   */
  push(
    ticket: bigint,
    lease: string,
    payloads: readonly Payload[],
    options?: PushOptions,
  ): Promise<PushResult>;

  /**
   * Takes results in order, waiting up to `waitMs` while the job runs and
   * nothing is buffered. Once the job has ended and nothing is left it
   * rejects with NoDataLeftError, JobFailedError or JobCancelledError.
   */
  read(ticket: bigint, options: ReadOptions): Promise<ReadBatch>;

  /**
   * Fails a queued job that never started, such as one no runner took in
   * time. Rejects with TicketClosedError unless the ticket is queued.
   */
  failQueued(ticket: bigint, failure: JobFailure): Promise<void>;

  /** Ends the attempt holding `lease`: success when `failure` is absent. */
  finish(ticket: bigint, lease: string, failure?: JobFailure): Promise<void>;

  /**
   * Cancels a queued or running job and returns its state afterwards.
   * Cancelling a cancelled job is a no-op; a job that already succeeded or
   * failed keeps its state.
   */
  cancel(ticket: bigint): Promise<JobState>;

  status(ticket: bigint): Promise<TicketSnapshot>;

  /** Lists live tickets that match `filter`, newest first, at most `limit`. */
  list(filter: ListFilter): Promise<TicketSnapshot[]>;

  /** Releases timers and rejects every waiting call. */
  close(): Promise<void>;
}
