import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { UnknownKindError } from "./errors.js";
import { type JobContext, JobError, type JobKind } from "./job.js";
import { validateKind } from "./kind.js";
import { type SubscribeOptions, Subscription } from "./subscription.js";
import type {
  JobFailure,
  JobState,
  Lease,
  ListFilter,
  Progress,
  PushOptions,
  PushResult,
  ReadBatch,
  TicketSnapshot,
  TicketStore,
} from "./ticket-store.js";

/** gRPC status code UNKNOWN, the code of a job error that names none. */
const UNKNOWN = 2;

/** Hands queued jobs of kinds without a built-in handler to runners. */
export interface RemoteDispatcher {
  /**
   * Reserves room for one job of `kind`, which the caller must enqueue or
   * release. Throws when there is none: UnknownKindError for a kind
   * nothing serves, CapacityError for a full queue.
   */
  admit(kind: string): QueueReservation;
  /** Tells the runner holding `ticket`, if any, that it was cancelled. */
  revoke(ticket: bigint): void;
}

/** Room for one job that admit() reserved; only the first call counts. */
export interface QueueReservation {
  /** Queues the created ticket until a runner of its kind takes it. */
  enqueue(ticket: bigint): void;
  /** Gives the room back, for a ticket that could not be created. */
  release(): void;
}

export interface ExecOptions {
  /** How often a job whose runner was lost is started again. */
  readonly maxRetries?: number | undefined;
}

/**
 * Starts jobs and moves their results between work and consumers. Built-in
 * kinds run in this process; other kinds go to a RemoteDispatcher.
 */
export class Conductor {
  readonly store: TicketStore;
  readonly #kinds = new Map<string, JobKind>();
  readonly #running = new Map<bigint, AbortController>();
  #dispatcher: RemoteDispatcher | undefined;

  constructor(store: TicketStore) {
    this.store = store;
  }

  /** Kinds with a built-in handler. */
  get builtInKinds(): string[] {
    return [...this.#kinds.keys()];
  }

  /** Runs jobs of `kind` in this process. */
  register(kind: string, job: JobKind): void {
    this.#kinds.set(kind, job);
  }

  setDispatcher(dispatcher: RemoteDispatcher): void {
    this.#dispatcher = dispatcher;
  }

  /** Creates a ticket and starts or queues its job; returns the ticket. */
  async exec(kind: string, input: Payload, options: ExecOptions = {}): Promise<bigint> {
    validateKind(kind);
    const job = this.#kinds.get(kind);
    let reservation: QueueReservation | undefined;
    if (job) {
      await job.validate?.(input);
    } else {
      if (!this.#dispatcher) throw new UnknownKindError(kind);
      reservation = this.#dispatcher.admit(kind);
    }
    const maxRetries = options.maxRetries ?? 0;
    let ticket: bigint;
    try {
      ticket = await this.store.create({ kind, input, maxRetries });
    } catch (error) {
      reservation?.release();
      throw error;
    }
    if (reservation) {
      reservation.enqueue(ticket);
    } else if (job) {
      this.#run(job, await this.store.start(ticket));
    }
    return ticket;
  }

  push(
    ticket: bigint,
    lease: string,
    payloads: readonly Payload[],
    options?: PushOptions,
  ): Promise<PushResult> {
    return this.store.push(ticket, lease, payloads, options);
  }

  finish(ticket: bigint, lease: string, failure?: JobFailure): Promise<void> {
    return this.store.finish(ticket, lease, failure);
  }

  /**
   * Takes up to `maxResults` results, and no more than `maxBytes` of
   * payload unless one result is larger, waiting up to `waitMs` for one.
   * With an `afterSequence` before the delivery cursor, returns retained
   * results after it again instead, without moving the cursor.
   */
  pull(
    ticket: bigint,
    options: {
      afterSequence?: bigint | undefined;
      maxResults: number;
      maxBytes?: number;
      waitMs: number;
      signal?: AbortSignal;
    },
  ): Promise<ReadBatch> {
    return this.store.read(ticket, options);
  }

  /**
   * Starts reading the results of `ticket` as they arrive; see
   * Subscription for what each next() returns and throws.
   */
  subscribe(ticket: bigint, options: SubscribeOptions): Subscription {
    return new Subscription(this.store, ticket, options);
  }

  /** Cancels the job, aborts or revokes its work, and returns the new state. */
  async cancel(ticket: bigint): Promise<JobState> {
    const state = await this.store.cancel(ticket);
    this.#running.get(ticket)?.abort(new Error("job cancelled"));
    this.#dispatcher?.revoke(ticket);
    return state;
  }

  status(ticket: bigint): Promise<TicketSnapshot> {
    return this.store.status(ticket);
  }

  list(filter: ListFilter): Promise<TicketSnapshot[]> {
    return this.store.list(filter);
  }

  /** Aborts the built-in jobs still running and closes the store. */
  async close(): Promise<void> {
    for (const controller of this.#running.values()) {
      controller.abort(new Error("conductor closed"));
    }
    this.#running.clear();
    await this.store.close();
  }

  #run(job: JobKind, lease: Lease): void {
    const controller = new AbortController();
    this.#running.set(lease.ticket, controller);
    const context = this.#context(lease, controller.signal);
    Promise.resolve()
      .then(() => job.run(lease.input, context))
      .then(
        () => this.store.finish(lease.ticket, lease.lease),
        (error: unknown) =>
          this.store.finish(lease.ticket, lease.lease, failureOf(error)),
      )
      // A cancelled or expired ticket takes no finish; that is expected.
      .catch(() => {})
      .finally(() => this.#running.delete(lease.ticket));
  }

  #context(lease: Lease, signal: AbortSignal): JobContext {
    const { ticket, attempt } = lease;
    return {
      ticket,
      attempt,
      signal,
      push: async (...results) =>
        (await this.store.push(ticket, lease.lease, results, { signal })).lastSequence,
      progress: async (done, total = 0) => {
        const progress: Progress = { done: BigInt(done), total: BigInt(total) };
        await this.store.push(ticket, lease.lease, [], { progress });
      },
    };
  }
}

function failureOf(error: unknown): JobFailure {
  if (error instanceof JobError) {
    return { code: error.code, message: error.message };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: UNKNOWN, message: message || "job failed" };
}
