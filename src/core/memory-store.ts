import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { type Payload, PayloadSchema } from "../gen/conductor/v1/payload_pb.js";
import {
  CapacityError,
  InvalidArgumentError,
  LeaseMismatchError,
  ResultsNotRetainedError,
  TicketClosedError,
  TicketNotFoundError,
  truncateMessage,
} from "./errors.js";
import { ExpiryQueue } from "./expiry-queue.js";
import type { Retention } from "./result-log.js";
import { StoredResults } from "./stored-results.js";
import { TicketGenerator } from "./ticket-generator.js";
import {
  newRecord,
  snapshotOf,
  type TicketRecord,
  throwIfEnded,
} from "./ticket-record.js";
import {
  FINAL_STATES,
  type JobFailure,
  type JobState,
  type Lease,
  type ListFilter,
  type Progress,
  type PushOptions,
  type PushResult,
  type ReadBatch,
  type ReadOptions,
  type TicketSnapshot,
  type TicketSpec,
  type TicketStore,
} from "./ticket-store.js";
import { type WaitCount, WaitList } from "./wait-list.js";

const EMPTY_INPUT = create(PayloadSchema);

/** Payload bytes of delivered results kept per ticket unless set. */
export const DEFAULT_RETAIN_BYTES = 1 << 20;

/** Limits of the in-memory store. */
export interface MemoryStoreOptions {
  /** Undelivered results held per ticket before pushes wait. */
  readonly maxData: number;
  /** How long a finished ticket lives after its end or last read. */
  readonly timeoutMs: number;
  /**
   * Delivered results kept per ticket for resumed reads: maxData by
   * default. More are kept while they weigh under `retainBytes`.
   */
  readonly retainDelivered?: number | undefined;
  /** Payload bytes of delivered results kept per ticket; 1 MiB by default. */
  readonly retainBytes?: number | undefined;
  /** Live tickets before create rejects with CapacityError. */
  readonly maxTickets?: number | undefined;
  /** Called after a ticket was removed because its timeout passed. */
  readonly onExpire?: ((ticket: bigint) => void) | undefined;
}

/**
 * Keeps every ticket in this process. Expired tickets are removed by one
 * shared timer, not one per ticket.
 */
export class MemoryStore implements TicketStore {
  readonly #tickets = new Map<bigint, TicketRecord>();
  readonly #generator = new TicketGenerator();
  readonly #expiry: ExpiryQueue<bigint>;
  readonly #maxData: number;
  readonly #timeoutMs: number;
  readonly #retention: Retention;
  readonly #maxTickets: number;
  readonly #waitingReads: WaitCount = { value: 0 };

  constructor(options: MemoryStoreOptions) {
    this.#maxData = options.maxData;
    this.#timeoutMs = options.timeoutMs;
    this.#retention = {
      results: options.retainDelivered ?? options.maxData,
      bytes: options.retainBytes ?? DEFAULT_RETAIN_BYTES,
    };
    this.#maxTickets = options.maxTickets ?? 100_000;
    this.#expiry = new ExpiryQueue(
      (ticket) => this.#expireTimeMs(this.#tickets.get(ticket)),
      (ticket) => {
        this.#remove(ticket);
        options.onExpire?.(ticket);
      },
    );
  }

  /** Number of live tickets. */
  get size(): number {
    return this.#tickets.size;
  }

  /** Returns the input a live ticket keeps, for diagnostics; none once it ended. */
  inputOf(ticket: bigint): Payload | undefined {
    return this.#tickets.get(ticket)?.spec.input;
  }

  /** Reads waiting for a result, such as open Subscribe streams. */
  get waitingReadCount(): number {
    return this.#waitingReads.value;
  }

  async create(spec: TicketSpec): Promise<bigint> {
    if (this.#tickets.size >= this.#maxTickets) {
      throw new CapacityError(`too many live tickets: the limit is ${this.#maxTickets}`);
    }
    const ticket = this.#generator.next();
    this.#tickets.set(ticket, newRecord(ticket, spec, this.#retention));
    return ticket;
  }

  async start(ticket: bigint): Promise<Lease> {
    const record = this.#get(ticket);
    if (record.state !== "queued") {
      throw new TicketClosedError(ticket, record.state);
    }
    record.state = "running";
    record.attempt += 1;
    record.lease = randomBytes(16).toString("hex");
    record.startTimeMs = Date.now();
    this.#wakeReaders(record);
    const { kind, input, maxRetries } = record.spec;
    const { attempt, lease } = record;
    return { ticket, kind, input, maxRetries, attempt, lease };
  }

  /**
   * Puts a running job back in the queue because the holder of `lease` was
   * lost. Its results stay; waiting pushes of that lease are rejected.
   */
  async requeue(ticket: bigint, lease: string): Promise<void> {
    const record = this.#holding(ticket, lease);
    record.state = "queued";
    record.lease = undefined;
    record.pushes.rejectAll(() => new LeaseMismatchError(ticket));
    this.#wakeReaders(record);
  }

  async push(
    ticket: bigint,
    lease: string,
    payloads: readonly Payload[],
    options: PushOptions = {},
  ): Promise<PushResult> {
    const record = this.#holding(ticket, lease);
    if (options.firstSequence !== undefined && payloads.length > 0) {
      const unstored = this.#unstored(record, payloads, options.firstSequence);
      if (unstored.length === 0) {
        if (options.progress) this.#setProgress(record, options.progress);
        const lastSequence = options.firstSequence + BigInt(payloads.length) - 1n;
        return { lastSequence, storedCount: 0 };
      }
      payloads = unstored;
    }
    if (payloads.length === 0) {
      if (options.progress) this.#setProgress(record, options.progress);
      return { lastSequence: record.log.pushedCount, storedCount: 0 };
    }
    options.signal?.throwIfAborted();
    const lastSequence =
      this.#storeAtOnce(record, payloads) ??
      (await record.pushes.enqueue(ticket, payloads, options.signal, () =>
        this.#drainPushes(record),
      ));
    if (options.progress) this.#setProgress(record, options.progress);
    return { lastSequence, storedCount: payloads.length };
  }

  async read(ticket: bigint, options: ReadOptions): Promise<ReadBatch> {
    const deadlineMs = Date.now() + options.waitMs;
    for (;;) {
      options.signal?.throwIfAborted();
      const record = this.#get(ticket);
      record.lastReadMs = Date.now();
      const batch = this.#tryRead(record, options);
      if (batch) return batch;
      const remainingMs = deadlineMs - Date.now();
      if (remainingMs <= 0) return this.#emptyBatch(record);
      await this.#waitForChange(record, remainingMs, options.signal);
    }
  }

  async finish(ticket: bigint, lease: string, failure?: JobFailure): Promise<void> {
    const record = this.#holding(ticket, lease);
    this.#end(record, failure ? "failed" : "succeeded");
    record.failure = failure && { ...failure, message: truncateMessage(failure.message) };
  }

  async failQueued(ticket: bigint, failure: JobFailure): Promise<void> {
    const record = this.#get(ticket);
    if (record.state !== "queued") throw new TicketClosedError(ticket, record.state);
    this.#end(record, "failed");
    record.failure = failure && { ...failure, message: truncateMessage(failure.message) };
  }

  async cancel(ticket: bigint): Promise<JobState> {
    const record = this.#get(ticket);
    if (!FINAL_STATES.has(record.state)) this.#end(record, "cancelled");
    return record.state;
  }

  async status(ticket: bigint): Promise<TicketSnapshot> {
    return this.#snapshot(this.#get(ticket));
  }

  async list(filter: ListFilter): Promise<TicketSnapshot[]> {
    const out: TicketSnapshot[] = [];
    // Map iteration is oldest first, the order the generator issued the
    // tickets in; the listing is newest first.
    const records = [...this.#tickets.values()];
    const end =
      filter.before === undefined
        ? records.length
        : this.#issuedBefore(records, filter.before);
    for (let i = end - 1; i >= 0 && out.length < filter.limit; i--) {
      const record = records[i] as TicketRecord;
      if (filter.state && record.state !== filter.state) continue;
      if (filter.kind && record.spec.kind !== filter.kind) continue;
      out.push(this.#snapshot(record));
    }
    return out;
  }

  /**
   * Returns how many of `records`, oldest first, were issued before
   * `ticket`, by binary search on the generator's order.
   */
  #issuedBefore(records: readonly TicketRecord[], ticket: bigint): number {
    const order = this.#generator.orderOf(ticket);
    let low = 0;
    let high = records.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const record = records[middle] as TicketRecord;
      if (this.#generator.orderOf(record.ticket) < order) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  async close(): Promise<void> {
    this.#expiry.clear();
    for (const ticket of [...this.#tickets.keys()]) this.#remove(ticket);
  }

  #get(ticket: bigint): TicketRecord {
    const record = this.#tickets.get(ticket);
    if (!record) throw new TicketNotFoundError(ticket);
    return record;
  }

  /** Returns the record if `lease` is the running job's current lease, else throws. */
  #holding(ticket: bigint, lease: string): TicketRecord {
    const record = this.#get(ticket);
    if (FINAL_STATES.has(record.state)) {
      throw new TicketClosedError(ticket, record.state);
    }
    if (record.state !== "running" || record.lease !== lease) {
      throw new LeaseMismatchError(ticket);
    }
    return record;
  }

  /** Drops the payloads of a push whose sequences are already taken. */
  #unstored(record: TicketRecord, payloads: readonly Payload[], first: bigint) {
    const next = record.log.pushedCount + BigInt(record.pushes.waitingResultCount) + 1n;
    if (first > next) {
      throw new InvalidArgumentError(
        "first_sequence",
        `first_sequence ${first} is past the next sequence ${next} of ticket ${record.ticket}`,
      );
    }
    const taken = next - first;
    return taken >= BigInt(payloads.length) ? [] : payloads.slice(Number(taken));
  }

  /**
   * Stores a push whole and returns its last sequence when no push waits
   * before it and the buffer has room for all of it. That is the usual
   * case, and skipping the queue saves a promise and a listener per push.
   * Returns undefined when the push must wait its turn.
   */
  #storeAtOnce(record: TicketRecord, payloads: readonly Payload[]): bigint | undefined {
    if (record.pushes.waiting) return undefined;
    if (this.#maxData - record.log.bufferedCount < payloads.length) return undefined;
    record.log.append(payloads);
    this.#wakeReaders(record, payloads.length);
    return record.log.pushedCount;
  }

  /** Stores waiting pushes while the buffer has room, oldest first. */
  #drainPushes(record: TicketRecord): void {
    const room = this.#maxData - record.log.bufferedCount;
    const stored = record.pushes.drain(room, (payloads, start, end) =>
      record.log.append(payloads, start, end),
    );
    if (stored > 0) this.#wakeReaders(record, stored);
  }

  #tryRead(record: TicketRecord, options: ReadOptions): ReadBatch | undefined {
    const { log } = record;
    const after = options.afterSequence;
    if (after !== undefined && after !== log.deliveredCount) {
      return this.#batch(record, this.#replay(record, after, options), true);
    }
    if (log.bufferedCount > 0) {
      const results = log.take(options.maxResults, options.maxBytes);
      this.#drainPushes(record);
      return this.#batch(record, results);
    }
    if (record.progressVersion > (options.progressVersionSeen ?? Infinity)) {
      return this.#emptyBatch(record);
    }
    throwIfEnded(record);
    return undefined;
  }

  #replay(record: TicketRecord, after: bigint, options: ReadOptions) {
    const { log, ticket } = record;
    if (after > log.deliveredCount) {
      throw new InvalidArgumentError(
        "after_sequence",
        `after_sequence ${after} is past the last delivered sequence ` +
          `${log.deliveredCount} of ticket ${ticket}`,
      );
    }
    if (after + 1n < log.firstRetainedSequence) {
      throw new ResultsNotRetainedError(ticket, after + 1n, log.firstRetainedSequence);
    }
    return log.replay(after, options.maxResults, options.maxBytes);
  }

  #batch(
    record: TicketRecord,
    results: ReadBatch["results"],
    replayed = false,
  ): ReadBatch {
    const { state, progress, progressVersion } = record;
    return { results, replayed, state, progress, progressVersion };
  }

  #emptyBatch(record: TicketRecord): ReadBatch {
    return this.#batch(record, StoredResults.EMPTY);
  }

  #waitForChange(
    record: TicketRecord,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    record.readers ??= new WaitList(this.#waitingReads);
    // A wake-up meant for an aborted read must reach another one.
    const passOn = () => {
      if (record.log.bufferedCount > 0) this.#wakeReaders(record, 1);
    };
    return record.readers.wait(timeoutMs, signal, passOn);
  }

  /**
   * Wakes waiting reads, oldest first. New results wake one read per
   * result, because each read takes at least one; other changes wake all.
   */
  #wakeReaders(record: TicketRecord, limit?: number): void {
    record.readers?.wake(limit);
  }

  #setProgress(record: TicketRecord, progress: Progress): void {
    record.progress = progress;
    record.progressVersion += 1;
    this.#wakeReaders(record);
  }

  #end(record: TicketRecord, state: JobState): void {
    record.state = state;
    // An ended job never runs again, so its input need not outlive it.
    record.spec = { ...record.spec, input: EMPTY_INPUT };
    record.endTimeMs = Date.now();
    record.pushes.rejectAll(() => new TicketClosedError(record.ticket, state));
    this.#wakeReaders(record);
    this.#expiry.schedule(record.ticket, record.endTimeMs + this.#timeoutMs);
  }

  #expireTimeMs(record: TicketRecord | undefined): number | undefined {
    if (!record || record.endTimeMs === undefined) return undefined;
    return Math.max(record.endTimeMs, record.lastReadMs) + this.#timeoutMs;
  }

  #remove(ticket: bigint): void {
    const record = this.#tickets.get(ticket);
    if (!record) return;
    this.#tickets.delete(ticket);
    record.pushes.rejectAll(() => new TicketNotFoundError(ticket));
    this.#wakeReaders(record);
  }

  #snapshot(record: TicketRecord): TicketSnapshot {
    return snapshotOf(record, this.#expireTimeMs(record));
  }
}
