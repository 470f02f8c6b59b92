import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { payloadSize } from "./payload-size.js";
import type { Result } from "./ticket-store.js";

/** Entries removed from the front before the array is compacted. */
const COMPACT_AFTER = 1024;

/**
 * The results of one ticket, in sequence order, with a delivery cursor.
 *
 * Results after the cursor are buffered (not yet delivered). Up to
 * `retainDelivered` results before it are kept so that a consumer whose
 * stream broke can read them again; older ones are dropped.
 */
export class ResultLog {
  readonly #retainDelivered: number;
  #entries: Result[] = [];
  /** Index in #entries of the oldest retained result. */
  #head = 0;
  #pushed = 0n;
  #delivered = 0n;

  constructor(retainDelivered: number) {
    this.#retainDelivered = retainDelivered;
  }

  /** Sequence of the last result appended; 0 when none. */
  get pushedCount(): bigint {
    return this.#pushed;
  }

  /** Sequence of the last result delivered; 0 when none. */
  get deliveredCount(): bigint {
    return this.#delivered;
  }

  get bufferedCount(): number {
    return Number(this.#pushed - this.#delivered);
  }

  /** Sequence of the oldest result still held. */
  get firstRetainedSequence(): bigint {
    return this.#pushed - BigInt(this.#entries.length - this.#head) + 1n;
  }

  append(payload: Payload): bigint {
    this.#pushed += 1n;
    this.#entries.push({ sequence: this.#pushed, payload });
    return this.#pushed;
  }

  /** Delivers up to `max` buffered results, advancing the cursor. */
  take(max: number, maxBytes = Number.POSITIVE_INFINITY): Result[] {
    const taken = this.#slice(this.#delivered, max, maxBytes);
    this.#delivered += BigInt(taken.length);
    this.#dropExcessDelivered();
    return taken;
  }

  /**
   * Returns retained results after `after` again, up to the cursor, without
   * moving it. `after` must be at least firstRetainedSequence - 1.
   */
  replay(after: bigint, max: number, maxBytes = Number.POSITIVE_INFINITY) {
    const available = Number(this.#delivered - after);
    return this.#slice(after, Math.min(max, available), maxBytes);
  }

  /** Results after sequence `after`: at least one, then within maxBytes. */
  #slice(after: bigint, max: number, maxBytes: number): Result[] {
    const start = this.#head + Number(after - this.firstRetainedSequence + 1n);
    const end = Math.min(start + max, this.#entries.length);
    if (maxBytes === Number.POSITIVE_INFINITY) {
      return this.#entries.slice(start, end);
    }
    const out: Result[] = [];
    let bytes = 0;
    for (let i = start; i < end; i++) {
      const result = this.#entries[i] as Result;
      bytes += payloadSize(result.payload);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(result);
    }
    return out;
  }

  #dropExcessDelivered(): void {
    const retained = Number(this.#delivered - this.firstRetainedSequence + 1n);
    const excess = retained - this.#retainDelivered;
    if (excess <= 0) return;
    this.#entries.fill(undefined as never, this.#head, this.#head + excess);
    this.#head += excess;
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
