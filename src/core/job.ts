import type { Payload } from "../gen/conductor/v1/payload_pb.js";

/** Operations available to a job's work while it runs. */
export interface JobContext {
  readonly ticket: bigint;
  /** Attempt number, from 1. */
  readonly attempt: number;
  /** Aborts when the job is cancelled or the conductor closes. */
  readonly signal: AbortSignal;
  /**
   * Stores results in order and returns the sequence of the last one.
   * Waits while the ticket's buffer is full; rejects once the job is
   * cancelled. A binary value of more than 1 KiB may be kept, not copied, so
   * it must not change after the push.
   */
  push(...results: Payload[]): Promise<bigint>;
  /** Reports progress; `total` 0 means unknown. */
  progress(done: number | bigint, total?: number | bigint): Promise<void>;
}

/**
 * The work of one job kind, run in the conductor's process. Resolving ends
 * the job with success. Throwing ends it with an error that consumers get
 * after the pushed results: the code of a thrown JobError, else UNKNOWN.
 */
export type JobHandler = (input: Payload, context: JobContext) => Promise<void>;

/** An error a job's work throws to choose the gRPC status code it ends with. */
export class JobError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A job kind that runs in the conductor's process. */
export interface JobKind {
  readonly run: JobHandler;
  /**
   * Checks the input when Exec is called, so that bad input is rejected
   * before a ticket exists. Throws or rejects with InvalidArgumentError.
   */
  readonly validate?: (input: Payload) => void | Promise<void>;
}
