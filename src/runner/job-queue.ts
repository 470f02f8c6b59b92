import { ExpiryQueue } from "../core/expiry-queue.js";

/** A job waiting for a runner of its kind. */
export interface QueuedJob {
  readonly ticket: bigint;
  readonly kind: string;
  /** Arrival order over all kinds, lower is older. Kept across retries. */
  readonly order: number;
  /** When the job fails unless a runner takes it, in epoch milliseconds. */
  readonly deadlineMs: number;
}

export interface JobQueueOptions {
  /** How long a job may wait for a runner. */
  readonly queueTimeoutMs: number;
  /** Called once for each job whose deadline passed, after its removal. */
  readonly onTimeout: (job: QueuedJob) => void;
}

/** The jobs of one kind: retries of lost attempts go before new jobs. */
interface KindQueue {
  readonly retries: Map<bigint, QueuedJob>;
  readonly fresh: Map<bigint, QueuedJob>;
}

/**
 * Jobs waiting for runners, first in first out per kind. Every deadline
 * shares one timer. The queue enforces no size limit itself, so that a job
 * whose runner was lost can always go back: callers check `size` before
 * they add a new job.
 */
export class JobQueue {
  readonly #byKind = new Map<string, KindQueue>();
  readonly #jobs = new Map<bigint, QueuedJob>();
  readonly #expiry: ExpiryQueue<bigint>;
  readonly #queueTimeoutMs: number;
  #nextOrder = 1;

  constructor(options: JobQueueOptions) {
    this.#queueTimeoutMs = options.queueTimeoutMs;
    this.#expiry = new ExpiryQueue(
      (ticket) => this.#jobs.get(ticket)?.deadlineMs,
      (ticket) => {
        const job = this.#jobs.get(ticket);
        if (!job) return;
        this.delete(ticket);
        options.onTimeout(job);
      },
    );
  }

  /** Number of waiting jobs over all kinds. */
  get size(): number {
    return this.#jobs.size;
  }

  /** Adds a new job behind every waiting job of its kind. */
  add(ticket: bigint, kind: string): QueuedJob {
    const job = this.#job(ticket, kind, this.#nextOrder++);
    this.#kindQueue(kind).fresh.set(ticket, job);
    return job;
  }

  /**
   * Adds a job whose runner was lost. It goes before the new jobs of its
   * kind and keeps its arrival `order`; its wait starts again.
   */
  addRetry(ticket: bigint, kind: string, order: number): QueuedJob {
    const job = this.#job(ticket, kind, order);
    this.#kindQueue(kind).retries.set(ticket, job);
    return job;
  }

  /** Removes a job; returns false when it was not waiting. */
  delete(ticket: bigint): boolean {
    const job = this.#jobs.get(ticket);
    if (!job) return false;
    this.#jobs.delete(ticket);
    const queue = this.#byKind.get(job.kind) as KindQueue;
    queue.retries.delete(ticket) || queue.fresh.delete(ticket);
    if (queue.retries.size === 0 && queue.fresh.size === 0) {
      this.#byKind.delete(job.kind);
    }
    return true;
  }

  /** The job of `kind` that goes next, left in the queue. */
  peek(kind: string): QueuedJob | undefined {
    const queue = this.#byKind.get(kind);
    if (!queue) return undefined;
    return first(queue.retries) ?? first(queue.fresh);
  }

  /** Kinds with at least one waiting job. */
  kinds(): IterableIterator<string> {
    return this.#byKind.keys();
  }

  /** Forgets every job and stops the timer. */
  clear(): void {
    this.#expiry.clear();
    this.#byKind.clear();
    this.#jobs.clear();
  }

  #job(ticket: bigint, kind: string, order: number): QueuedJob {
    this.delete(ticket);
    const deadlineMs = Date.now() + this.#queueTimeoutMs;
    const job = { ticket, kind, order, deadlineMs };
    this.#jobs.set(ticket, job);
    this.#expiry.schedule(ticket, deadlineMs);
    return job;
  }

  #kindQueue(kind: string): KindQueue {
    let queue = this.#byKind.get(kind);
    if (!queue) {
      queue = { retries: new Map(), fresh: new Map() };
      this.#byKind.set(kind, queue);
    }
    return queue;
  }
}

function first<V>(map: Map<unknown, V>): V | undefined {
  for (const value of map.values()) return value;
  return undefined;
}
