import { NoDataLeftError } from "./errors.js";
import type { ReadBatch, TicketStore } from "./ticket-store.js";

/** Options of a subscription: where it starts and how much one batch may hold. */
export interface SubscribeOptions {
  readonly afterSequence?: bigint | undefined;
  /** Maximum results per batch, and the payload bytes after which a batch takes no more. */
  readonly maxResults: number;
  readonly maxBytes: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The reads of one subscriber of a ticket: replayed results after
 * `afterSequence` first, then results at the delivery cursor as they
 * arrive, and batches with only new progress.
 */
export class Subscription {
  readonly #store: TicketStore;
  readonly #ticket: bigint;
  readonly #options: SubscribeOptions;
  #afterSequence: bigint | undefined;
  #progressVersionSeen = 0;
  #ended = false;

  constructor(store: TicketStore, ticket: bigint, options: SubscribeOptions) {
    this.#store = store;
    this.#ticket = ticket;
    this.#options = options;
    this.#afterSequence = options.afterSequence;
  }

  /**
   * Waits for the next batch. Returns undefined after the last result of
   * a successful job; throws the job's error, JobCancelledError, or what
   * the store throws.
   */
  async next(): Promise<ReadBatch | undefined> {
    if (this.#ended) return undefined;
    let batch: ReadBatch;
    try {
      batch = await this.#store.read(this.#ticket, {
        afterSequence: this.#afterSequence,
        maxResults: this.#options.maxResults,
        maxBytes: this.#options.maxBytes,
        waitMs: Number.POSITIVE_INFINITY,
        progressVersionSeen: this.#progressVersionSeen,
        signal: this.#options.signal,
      });
    } catch (error) {
      if (!(error instanceof NoDataLeftError)) throw error;
      this.#ended = true;
      return undefined;
    }
    const last = batch.results.lastSequence;
    // Replays continue from the last replayed result; once caught up the
    // stream reads at the shared delivery cursor.
    if (last !== undefined) this.#afterSequence = batch.replayed ? last : undefined;
    this.#progressVersionSeen = batch.progressVersion;
    return batch;
  }
}
