import { PushAbortedError } from "../core/errors.js";
import {
  FINAL_STATES,
  type JobFailure,
  type JobState,
  type Lease,
  type ListFilter,
  type PushOptions,
  type PushResult,
  type ReadBatch,
  type ReadOptions,
  type TicketSnapshot,
  type TicketSpec,
  type TicketStore,
} from "../core/ticket-store.js";
import type { Payload } from "../gen/conductor/v1/payload_pb.js";

/** The state a job ended in. */
export type JobOutcome = Exclude<JobState, "queued" | "running">;

/**
 * Receives job and result events from an ObservedStore. Hooks run
 * synchronously after the store call succeeded, and must not throw.
 */
export interface StoreObserver {
  jobCreated?(kind: string): void;
  /** An attempt started: the first one, or a retry after a requeue. */
  jobStarted?(ticket: bigint, kind: string): void;
  jobRequeued?(ticket: bigint, kind: string): void;
  jobEnded?(
    ticket: bigint,
    kind: string,
    outcome: JobOutcome,
    failure?: JobFailure,
  ): void;
  /** A push with at least one result stored `count` of them. */
  resultsPushed?(count: number, elapsedMs: number): void;
  /** A read returned `count` results, sent before when `replayed`. */
  resultsRead?(count: number, replayed: boolean): void;
}

/**
 * A TicketStore that reports job and result events to observers and
 * tracks the jobs running now. It adds one timestamp per push call and a
 * counter update per read, never work per result.
 */
export class ObservedStore implements TicketStore {
  readonly #inner: TicketStore;
  readonly #observers: StoreObserver[];
  /** Kind of each job with a running attempt. */
  readonly #running = new Map<bigint, string>();
  #idleWaiters: (() => void)[] = [];

  constructor(inner: TicketStore, observers: readonly StoreObserver[] = []) {
    this.#inner = inner;
    this.#observers = [...observers];
  }

  /** Adds an observer for events from now on. */
  observe(observer: StoreObserver): void {
    this.#observers.push(observer);
  }

  /** Jobs with a running attempt. */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Resolves once no job is running; at once when none is. */
  whenNoJobRunning(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async create(spec: TicketSpec): Promise<bigint> {
    const ticket = await this.#inner.create(spec);
    for (const observer of this.#observers) observer.jobCreated?.(spec.kind);
    return ticket;
  }

  async start(ticket: bigint): Promise<Lease> {
    const lease = await this.#inner.start(ticket);
    this.#running.set(ticket, lease.kind);
    for (const observer of this.#observers) observer.jobStarted?.(ticket, lease.kind);
    return lease;
  }

  async requeue(ticket: bigint, lease: string): Promise<void> {
    await this.#inner.requeue(ticket, lease);
    const kind = this.#stopRunning(ticket);
    if (kind === undefined) return;
    for (const observer of this.#observers) observer.jobRequeued?.(ticket, kind);
  }

  async push(
    ticket: bigint,
    lease: string,
    payloads: readonly Payload[],
    options?: PushOptions,
  ): Promise<PushResult> {
    if (payloads.length === 0) {
      return this.#inner.push(ticket, lease, payloads, options);
    }
    const startMs = performance.now();
    try {
      const result = await this.#inner.push(ticket, lease, payloads, options);
      this.#pushed(result.storedCount, performance.now() - startMs);
      return result;
    } catch (error) {
      // An aborted push keeps the results it stored before giving up.
      if (error instanceof PushAbortedError && error.storedCount > 0) {
        this.#pushed(error.storedCount, performance.now() - startMs);
      }
      throw error;
    }
  }

  async read(ticket: bigint, options: ReadOptions): Promise<ReadBatch> {
    const batch = await this.#inner.read(ticket, options);
    const count = batch.results.count;
    if (count > 0) {
      for (const observer of this.#observers) {
        observer.resultsRead?.(count, batch.replayed);
      }
    }
    return batch;
  }

  async finish(ticket: bigint, lease: string, failure?: JobFailure): Promise<void> {
    await this.#inner.finish(ticket, lease, failure);
    const kind = this.#stopRunning(ticket);
    if (kind === undefined) return;
    const outcome = failure ? "failed" : "succeeded";
    for (const observer of this.#observers) {
      observer.jobEnded?.(ticket, kind, outcome, failure);
    }
  }

  async failQueued(ticket: bigint, failure: JobFailure): Promise<void> {
    const { kind } = await this.#inner.status(ticket);
    await this.#inner.failQueued(ticket, failure);
    for (const observer of this.#observers) {
      observer.jobEnded?.(ticket, kind, "failed", failure);
    }
  }

  async cancel(ticket: bigint): Promise<JobState> {
    // Both calls start before either awaits, so that the snapshot shows the
    // state the cancel acted on when the store works synchronously.
    const before = this.#inner.status(ticket);
    const after = this.#inner.cancel(ticket);
    const [{ kind, state }, stateAfter] = await Promise.all([before, after]);
    this.#stopRunning(ticket);
    if (!FINAL_STATES.has(state) && stateAfter === "cancelled") {
      for (const observer of this.#observers) {
        observer.jobEnded?.(ticket, kind, "cancelled");
      }
    }
    return stateAfter;
  }

  status(ticket: bigint): Promise<TicketSnapshot> {
    return this.#inner.status(ticket);
  }

  list(filter: ListFilter): Promise<TicketSnapshot[]> {
    return this.#inner.list(filter);
  }

  async close(): Promise<void> {
    await this.#inner.close();
    this.#running.clear();
    this.#wakeIdleWaiters();
  }

  #pushed(count: number, elapsedMs: number): void {
    for (const observer of this.#observers) {
      observer.resultsPushed?.(count, elapsedMs);
    }
  }

  /** Forgets a running job and returns its kind, if it was running. */
  #stopRunning(ticket: bigint): string | undefined {
    const kind = this.#running.get(ticket);
    if (kind === undefined) return undefined;
    this.#running.delete(ticket);
    if (this.#running.size === 0) this.#wakeIdleWaiters();
    return kind;
  }

  #wakeIdleWaiters(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
