import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { payloadSize } from "./payload-size.js";
import type { Result } from "./ticket-store.js";

/** Entries removed from the front before the arrays are compacted. */
const COMPACT_AFTER = 1024;

/**
 * Bytes charged per retained result on top of its payload, so that many
 * tiny results still use up the byte budget.
 */
const RESULT_OVERHEAD_BYTES = 64;

/** How many delivered results a log keeps for resumed reads. */
export interface Retention {
  /** Results kept whatever their size. */
  readonly results: number;
  /** Payload bytes kept whatever the count (each result counts 64 more). */
  readonly bytes: number;
}

/**
 * The results of one ticket, in sequence order, with a delivery cursor.
 *
 * Results after the cursor are buffered (not yet delivered). Delivered
 * results are kept so that a consumer whose stream broke can read them
 * again: a delivered result is dropped only once more than
 * `retention.results` of them are kept and they weigh more than
 * `retention.bytes`. The byte budget covers the results still in flight on
 * a connection, which are many when results are small.
 */
export class ResultLog {
  readonly #retention: Retention;
  /**
   * Payloads of the retained results; the sequence of each follows from
   * its index. Result objects are made only when results are read, so a
   * stored result costs no more than its payload.
   */
  #entries: Payload[] = [];
  /** Weight of each entry: its payload size plus RESULT_OVERHEAD_BYTES. */
  #weights: number[] = [];
  /** Index in #entries of the oldest retained result. */
  #head = 0;
  // Sequences count the results of one ticket and stay far below 2^53, so
  // numbers represent them exactly. Bigint arithmetic would allocate per result.
  #pushed = 0;
  #delivered = 0;
  #deliveredWeight = 0;

  constructor(retention: Retention) {
    this.#retention = retention;
  }

  /** Sequence of the last result appended; 0 when none. */
  get pushedCount(): bigint {
    return BigInt(this.#pushed);
  }

  /** Sequence of the last result delivered; 0 when none. */
  get deliveredCount(): bigint {
    return BigInt(this.#delivered);
  }

  get bufferedCount(): number {
    return this.#pushed - this.#delivered;
  }

  /** Sequence of the oldest result still held. */
  get firstRetainedSequence(): bigint {
    return BigInt(this.#firstRetained());
  }

  /** Appends a result and returns its sequence. */
  append(payload: Payload): number {
    this.#pushed += 1;
    this.#entries.push(payload);
    this.#weights.push(payloadSize(payload) + RESULT_OVERHEAD_BYTES);
    return this.#pushed;
  }

  /**
   * Delivers buffered results, advancing the cursor: up to `max` of them,
   * and no more than `maxBytes` of payload unless a single result is larger.
   */
  take(max: number, maxBytes = Number.POSITIVE_INFINITY): Result[] {
    const start = this.#indexAfter(this.#delivered);
    const end = this.#end(start, max, maxBytes);
    for (let i = start; i < end; i++) this.#deliveredWeight += this.#weights[i] as number;
    const taken = this.#results(start, end);
    this.#delivered += end - start;
    this.#dropExcessDelivered();
    return taken;
  }

  /**
   * Returns retained results after `after` again, up to the cursor, without
   * moving it. `after` must be at least firstRetainedSequence - 1.
   */
  replay(after: bigint, max: number, maxBytes = Number.POSITIVE_INFINITY): Result[] {
    const start = this.#indexAfter(Number(after));
    const available = this.#delivered - Number(after);
    const end = this.#end(start, Math.min(max, available), maxBytes);
    return this.#results(start, end);
  }

  /** The results at indexes start..end of #entries. */
  #results(start: number, end: number): Result[] {
    const results: Result[] = new Array(end - start);
    const firstSequence = this.#firstRetained() - this.#head;
    for (let i = start; i < end; i++) {
      const payload = this.#entries[i] as Payload;
      results[i - start] = { sequence: BigInt(firstSequence + i), payload };
    }
    return results;
  }

  #firstRetained(): number {
    return this.#pushed - (this.#entries.length - this.#head) + 1;
  }

  #indexAfter(sequence: number): number {
    return this.#head + sequence - this.#firstRetained() + 1;
  }

  /** End index of a batch from `start`: at least one result when any. */
  #end(start: number, max: number, maxBytes: number): number {
    const limit = Math.min(start + max, this.#entries.length);
    let bytes = 0;
    for (let i = start; i < limit; i++) {
      bytes += (this.#weights[i] as number) - RESULT_OVERHEAD_BYTES;
      if (i > start && bytes > maxBytes) return i;
    }
    return limit;
  }

  #dropExcessDelivered(): void {
    const { results, bytes } = this.#retention;
    let retained = this.#delivered - this.#firstRetained() + 1;
    while (retained > results && this.#deliveredWeight > bytes) {
      this.#deliveredWeight -= this.#weights[this.#head] as number;
      this.#entries[this.#head] = undefined as never;
      this.#head += 1;
      retained -= 1;
    }
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#weights = this.#weights.slice(this.#head);
      this.#head = 0;
    }
  }
}
