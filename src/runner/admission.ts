import type { QueueReservation } from "../core/conductor.js";
import { CapacityError } from "../core/errors.js";
import type { JobQueue } from "./job-queue.js";
import type { RunnerConnection } from "./runner-connection.js";
import { freeRunner } from "./scheduling.js";

/** What an Admission needs from the hub that owns it. */
export interface AdmissionOptions {
  readonly queue: JobQueue;
  readonly runners: ReadonlyMap<string, RunnerConnection>;
  readonly maxQueuedJobs: number;
  /** Assigns waiting jobs to runners with room; called after each change. */
  readonly dispatch: () => void;
}

/**
 * Keeps new jobs within maxQueuedJobs. Each admitted job reserves a queue
 * slot, or a slot of a free runner when the queue is full, and the
 * reserved slot counts as taken until the job's ticket is queued or the
 * reservation is released. So Execs that run at the same time cannot
 * queue more than maxQueuedJobs new jobs. Jobs queued again after their
 * runner was lost may exceed the limit, by at most the jobs that runner
 * held, because they were admitted once and rejecting them would fail
 * jobs whose clients hold tickets. So may a job whose reserved runner
 * disconnects or drains before the job is queued. Queued retries count
 * toward the limit, so until the queue is below it again, only new jobs
 * that a free runner takes are admitted.
 */
export class Admission {
  readonly #options: AdmissionOptions;
  /** Queue slots held by admitted jobs whose tickets are being created. */
  #reservedQueueSlots = 0;

  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  /**
   * Reserves a queue slot while queued and reserved jobs are fewer than
   * maxQueuedJobs, and otherwise a slot of the least loaded runner of
   * `kind` that has one free. Throws CapacityError when neither is free.
   */
  admit(kind: string): QueueReservation {
    const { queue, runners, maxQueuedJobs } = this.#options;
    const waiting = queue.size + this.#reservedQueueSlots;
    if (waiting < maxQueuedJobs) {
      this.#reservedQueueSlots += 1;
      return this.#reservation(kind, () => {
        this.#reservedQueueSlots -= 1;
      });
    }
    const runner = freeRunner(runners.values(), kind);
    if (!runner) {
      throw new CapacityError(
        `job queue is full: ${waiting} jobs wait for runners, the limit is ${maxQueuedJobs}, ` +
          `and no runner of kind "${kind}" has a free slot`,
      );
    }
    runner.reservedSlots += 1;
    return this.#reservation(kind, () => {
      runner.reservedSlots -= 1;
    });
  }

  /**
   * Returns a reservation whose enqueue or release, whichever comes first,
   * gives the reserved slot back through `free`; later calls do nothing.
   * A job that reserved a runner slot is queued like any other. The freed
   * slot lets that runner take the oldest job it serves, so the queue
   * does not grow.
   */
  #reservation(kind: string, free: () => void): QueueReservation {
    const { queue, dispatch } = this.#options;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      free();
      return true;
    };
    return {
      enqueue: (ticket) => {
        if (!settle()) return;
        queue.add(ticket, kind);
        dispatch();
      },
      release: () => {
        if (settle()) dispatch();
      },
    };
  }
}
