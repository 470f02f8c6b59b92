import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { NumberColumn } from "./number-column.js";
import {
  EncodedPayload,
  encodePayload,
  sharedTail,
  writableLength,
  writePayload,
} from "./payload-encoding.js";
import { payloadSize } from "./payload-size.js";
import {
  resultBodySize,
  StoredResults,
  storedResultSize,
  writeResultHeader,
} from "./stored-results.js";

/** Entries removed from the front before the arrays are compacted. */
const COMPACT_AFTER = 1024;

/**
 * Bytes charged per retained result on top of its payload, so that many
 * tiny results still use up the byte budget.
 */
const RESULT_OVERHEAD_BYTES = 64;

/**
 * Sizes of the chunks stored results are written into. A log starts
 * small, so that a ticket with a few results costs little, and doubles its
 * chunks up to the largest size. A result larger than that gets a chunk of
 * its own.
 */
const FIRST_CHUNK_BYTES = 256;
const MAX_CHUNK_BYTES = 64 * 1024;

/**
 * Payloads up to this size are copied into chunks, so that a small result
 * keeps nothing else of its request alive. The bytes of larger ones are
 * kept by reference where that keeps little else alive (buffersToKeep),
 * because copying every payload made storing 4 KiB results slower.
 */
const COPY_LIMIT_BYTES = 1024;

/** Small payloads that lie in order in one request and are stored together. */
interface Run {
  /** Index of the run's last payload. */
  readonly last: number;
  /** Bytes of the run's stored results. */
  readonly bytes: number;
  /** The offset in the request at which the last payload's encoding ends. */
  readonly sourceEnd: number;
}

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
 *
 * Each result is written once, when it is appended, in the bytes it is
 * sent in (see stored-results.ts), into chunks shared by the results
 * appended one after another. A chunk is freed once none of its results
 * is kept, so retention holds up to one chunk more than it counts. The
 * bytes of a large payload are kept where they are (in its request, or as
 * its binary value) when its push fills most of that buffer, and only what
 * comes before them goes into the chunk.
 */
export class ResultLog {
  readonly #retention: Retention;
  /**
   * Three numbers per result, from index #head on: the number of its
   * chunk, where its bytes start there, and its weight (payload size plus
   * RESULT_OVERHEAD_BYTES, plus its share of the rest of its buffer when
   * the payload is kept by reference). Results of one chunk are adjacent, so a
   * result ends where the next one of its chunk starts. The sequence of
   * each follows from its index. One column for all three keeps an idle
   * ticket small.
   */
  readonly #entries = new NumberColumn();
  #count = 0;
  #head = 0;
  /**
   * The chunks from number #firstChunk on, each with where its last result
   * ends. A chunk with no retained result is dropped from the list.
   */
  #chunks: Buffer[] = [];
  #chunkEnds: number[] = [];
  #firstChunk = 0;
  /** The offset of the first free byte of the last chunk, which appends write to. */
  #fill = 0;
  #nextChunkBytes = FIRST_CHUNK_BYTES;
  /** Payload bytes kept by reference, by sequence; the map is made when first needed. */
  #tails: Map<number, Uint8Array> | undefined;
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

  /**
   * Appends `payloads` from index `start` to `end` as results and returns
   * the sequence of the last one.
   */
  append(payloads: readonly Payload[], start = 0, end = payloads.length): number {
    let buffers: Map<ArrayBufferLike, number> | undefined;
    const keptBuffers = (): Map<ArrayBufferLike, number> => {
      buffers ??= buffersToKeep(payloads);
      return buffers;
    };
    let i = start;
    while (i < end) {
      const copied = this.#appendRun(payloads, i, end);
      if (copied > 0) {
        i += copied;
      } else {
        this.#appendOne(payloads[i] as Payload, end - i, keptBuffers);
        i += 1;
      }
    }
    return this.#pushed;
  }

  /**
   * Delivers buffered results, advancing the cursor: up to `max` of them,
   * and no more than `maxBytes` of payload unless a single result is larger.
   */
  take(max: number, maxBytes = Number.POSITIVE_INFINITY): StoredResults {
    const start = this.#indexAfter(this.#delivered);
    const end = this.#end(start, max, maxBytes);
    for (let i = start; i < end; i++) this.#deliveredWeight += this.#weight(i);
    const taken = this.#results(start, end);
    this.#delivered += end - start;
    this.#dropExcessDelivered(taken.firstSequence);
    return taken;
  }

  /**
   * Returns retained results after `after` again, up to the cursor, without
   * moving it. `after` must be at least firstRetainedSequence - 1.
   */
  replay(after: bigint, max: number, maxBytes = Number.POSITIVE_INFINITY): StoredResults {
    const start = this.#indexAfter(Number(after));
    const available = this.#delivered - Number(after);
    const end = this.#end(start, Math.min(max, available), maxBytes);
    return this.#results(start, end);
  }

  /**
   * Appends the results from index `from` on whose payloads are small and
   * lie in order in one request, as many as fit in one chunk. Returns how
   * many it appended: none when the first is not such a payload.
   */
  #appendRun(payloads: readonly Payload[], from: number, end: number): number {
    const first = payloads[from] as EncodedPayload;
    const firstLength = EncodedPayload.encodedLength(first) ?? 0;
    if (!EncodedPayload.source(first) || firstLength > COPY_LIMIT_BYTES) return 0;
    const chunk = this.#room(this.#storedSize(from, from, firstLength), end - from);
    const run = this.#measureRun(payloads, from, end, chunk.byteLength - this.#fill);
    this.#copyRun(chunk, payloads, from, run);
    for (let k = from; k <= run.last; k++) {
      this.#indexCopied(chunk, payloads[k] as EncodedPayload);
    }
    return run.last - from + 1;
  }

  /**
   * Finds the run of payloads from index `from` whose stored results fit
   * in `room` bytes.
   */
  #measureRun(
    payloads: readonly Payload[],
    from: number,
    end: number,
    room: number,
  ): Run {
    const first = payloads[from] as EncodedPayload;
    const source = EncodedPayload.source(first);
    let sourceEnd =
      EncodedPayload.start(first) + (EncodedPayload.encodedLength(first) ?? 0);
    let bytes = this.#storedSize(from, from, sourceEnd - EncodedPayload.start(first));
    let last = from;
    for (let k = from + 1; k < end; k++) {
      const payload = payloads[k] as EncodedPayload;
      if (EncodedPayload.source(payload) !== source) break;
      const length = EncodedPayload.encodedLength(payload) as number;
      const start = EncodedPayload.start(payload);
      const size = this.#storedSize(from, k, length);
      // A payload may lie no further from the one before it than its
      // framing will, so that moving it overwrites none not yet moved.
      const gap = start - sourceEnd;
      if (length > COPY_LIMIT_BYTES || gap < 0 || gap > size - length) break;
      if (bytes + size > room) break;
      bytes += size;
      sourceEnd = start + length;
      last = k;
    }
    return { last, bytes, sourceEnd };
  }

  /**
   * Copies the payloads of a run into `chunk` at the fill offset, each
   * where its stored result will end. The bytes are copied from the request
   * at once and then moved apart, last first, to leave room for the
   * framing. Copying each payload on its own made a view of the request
   * per result, the largest item of a profile of storing 64 B results.
   */
  #copyRun(chunk: Buffer, payloads: readonly Payload[], from: number, run: Run): void {
    const first = payloads[from] as EncodedPayload;
    const source = EncodedPayload.source(first) as Buffer;
    const sourceStart = EncodedPayload.start(first);
    const firstLength = EncodedPayload.encodedLength(first) ?? 0;
    const base = this.#fill + this.#storedSize(from, from, firstLength) - firstLength;
    const bytes = new Uint8Array(
      source.buffer,
      source.byteOffset + sourceStart,
      run.sourceEnd - sourceStart,
    );
    chunk.set(bytes, base);
    let resultEnd = this.#fill + run.bytes;
    for (let k = run.last; k > from; k--) {
      const payload = payloads[k] as EncodedPayload;
      const length = EncodedPayload.encodedLength(payload) as number;
      const copiedAt = base + EncodedPayload.start(payload) - sourceStart;
      chunk.copyWithin(resultEnd - length, copiedAt, copiedAt + length);
      resultEnd -= this.#storedSize(from, k, length);
    }
  }

  /** Writes the framing of the next result, whose payload copyRun placed, and indexes it. */
  #indexCopied(chunk: Buffer, payload: EncodedPayload): void {
    const length = EncodedPayload.encodedLength(payload) as number;
    const sequence = this.#pushed + 1;
    const body = resultBodySize(sequence, length);
    this.#entries.push(this.#firstChunk + this.#chunks.length - 1);
    this.#entries.push(this.#fill);
    this.#entries.push(payloadSize(payload) + RESULT_OVERHEAD_BYTES);
    this.#fill = writeResultHeader(chunk, this.#fill, sequence, length, body) + length;
    this.#pushed = sequence;
    this.#count += 1;
  }

  /**
   * Bytes of the stored result of a payload of `length` bytes at index
   * `index` of a push whose index `from` gets the next sequence.
   */
  #storedSize(from: number, index: number, length: number): number {
    return storedResultSize(resultBodySize(this.#pushed + 1 + index - from, length));
  }

  /**
   * Appends one result; `left` results of its push, this one included, are
   * still to come. The end of a large payload is kept by reference only in
   * a buffer of `keptBuffers`, and weighs its share of that buffer.
   */
  #appendOne(
    payload: Payload,
    left: number,
    keptBuffers: () => Map<ArrayBufferLike, number>,
  ): void {
    let length = writableLength(payload);
    // JSON built in process is encoded to be measured, and kept as that
    // encoding. The end of a large payload is kept by reference (its
    // request's bytes, or its binary value), and only what comes before it
    // is written into the chunk.
    let tail: Uint8Array | undefined;
    let bufferPerByte = 1;
    if (length === undefined) {
      tail = encodePayload(payload);
      length = tail.byteLength;
    } else if (length > COPY_LIMIT_BYTES) {
      tail = sharedTail(payload);
      bufferPerByte = (tail && keptBuffers().get(tail.buffer)) ?? 0;
      if (bufferPerByte === 0) tail = undefined;
    }
    const restOfBuffer = tail ? Math.ceil(tail.byteLength * (bufferPerByte - 1)) : 0;
    const sequence = this.#pushed + 1;
    const body = resultBodySize(sequence, length);
    const framing = storedResultSize(body) - (tail?.byteLength ?? 0);
    const chunk = this.#room(framing, left);
    const start = this.#fill;
    let offset = writeResultHeader(chunk, start, sequence, length, body);
    offset = writePayload(payload, chunk, offset, tail !== undefined);
    if (tail) {
      this.#tails ??= new Map();
      this.#tails.set(sequence, tail);
    }
    this.#fill = offset;
    this.#pushed = sequence;
    this.#entries.push(this.#firstChunk + this.#chunks.length - 1);
    this.#entries.push(start);
    this.#entries.push(payloadSize(payload) + restOfBuffer + RESULT_OVERHEAD_BYTES);
    this.#count += 1;
  }

  /**
   * Returns the last chunk if it has `bytes` free, else a new last chunk. A new
   * chunk is sized for `results` more of about `bytes` each where it can,
   * so that a push of a few results gets one chunk that fits them.
   */
  #room(bytes: number, results: number): Buffer {
    const last = this.#chunks.at(-1);
    if (last && this.#fill + bytes <= last.byteLength) return last;
    if (last) this.#chunkEnds[this.#chunks.length - 1] = this.#fill;
    const planned = Math.min(
      MAX_CHUNK_BYTES,
      Math.max(bytes * results, this.#nextChunkBytes),
    );
    const size = Math.max(bytes, planned);
    this.#nextChunkBytes = Math.min(MAX_CHUNK_BYTES, this.#nextChunkBytes * 2);
    // Not from Node's shared pool, whose 8 KiB slabs a long-kept small
    // chunk would hold whole.
    // NOTE: chunks are memory outside the JavaScript heap, and storing
    // into them made V8 run more full collections than before
    // (docs/benchmarks.md, changes 12 and 14), so ingest costs more CPU.
    const chunk = Buffer.allocUnsafeSlow(size);
    this.#chunks.push(chunk);
    this.#chunkEnds.push(0);
    this.#fill = 0;
    return chunk;
  }

  /** Returns the results at indexes start..end as runs of adjacent stored bytes. */
  #results(start: number, end: number): StoredResults {
    if (start >= end) return StoredResults.EMPTY;
    const runs: Uint8Array[] = [];
    const firstSequence = this.#firstRetained() - this.#head + start;
    let i = start;
    while (i < end) {
      const chunkNumber = this.#chunkNumber(i);
      const runStart = this.#start(i);
      let tail = this.#tails?.get(firstSequence + i - start);
      // A run of one chunk ends at its last result or at a payload kept by reference.
      while (!tail && i + 1 < end && this.#chunkNumber(i + 1) === chunkNumber) {
        i += 1;
        tail = this.#tails?.get(firstSequence + i - start);
      }
      const chunk = this.#chunks[chunkNumber - this.#firstChunk] as Buffer;
      runs.push(chunk.subarray(runStart, this.#endOf(i)));
      if (tail) runs.push(tail);
      i += 1;
    }
    return new StoredResults(end - start, firstSequence, runs);
  }

  #chunkNumber(index: number): number {
    return this.#entries.at(index * 3);
  }

  #start(index: number): number {
    return this.#entries.at(index * 3 + 1);
  }

  #weight(index: number): number {
    return this.#entries.at(index * 3 + 2);
  }

  /** Returns the offset in its chunk where the result at `index` ends (before its tail, if kept by reference). */
  #endOf(index: number): number {
    const chunkNumber = this.#chunkNumber(index);
    if (index + 1 < this.#count && this.#chunkNumber(index + 1) === chunkNumber) {
      return this.#start(index + 1);
    }
    const position = chunkNumber - this.#firstChunk;
    return position === this.#chunks.length - 1
      ? this.#fill
      : (this.#chunkEnds[position] as number);
  }

  #firstRetained(): number {
    return this.#pushed - (this.#count - this.#head) + 1;
  }

  #indexAfter(sequence: number): number {
    return this.#head + sequence - this.#firstRetained() + 1;
  }

  /**
   * End index of a batch from `start`: at least one result when any. A
   * payload kept by reference counts its share of its buffer too, which
   * can only make a batch smaller.
   */
  #end(start: number, max: number, maxBytes: number): number {
    const limit = Math.min(start + max, this.#count);
    let bytes = 0;
    for (let i = start; i < limit; i++) {
      bytes += this.#weight(i) - RESULT_OVERHEAD_BYTES;
      if (i > start && bytes > maxBytes) return i;
    }
    return limit;
  }

  /**
   * Drops delivered results beyond the retention, oldest first, but none
   * from `lastBatchStart` on: the batch just taken may be lost in transit
   * whole, and its reader must be able to read it again.
   */
  #dropExcessDelivered(lastBatchStart: number): void {
    const { results, bytes } = this.#retention;
    let retained = this.#delivered - this.#firstRetained() + 1;
    let sequence = this.#firstRetained();
    while (
      retained > results &&
      this.#deliveredWeight > bytes &&
      sequence < lastBatchStart
    ) {
      this.#deliveredWeight -= this.#weight(this.#head);
      this.#tails?.delete(sequence);
      this.#head += 1;
      sequence += 1;
      retained -= 1;
    }
    this.#dropUnusedChunks();
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#count) {
      this.#entries.dropFront(this.#head * 3);
      this.#count -= this.#head;
      this.#head = 0;
    }
  }

  /** Drops the chunks before the first retained result's; the last chunk stays. */
  #dropUnusedChunks(): void {
    const first =
      this.#head < this.#count
        ? this.#chunkNumber(this.#head)
        : this.#firstChunk + this.#chunks.length - 1;
    const unused = first - this.#firstChunk;
    if (unused <= 0) return;
    this.#chunks.splice(0, unused);
    this.#chunkEnds.splice(0, unused);
    this.#firstChunk = first;
  }
}

/**
 * Returns the buffers that the large payloads of one push may be kept in
 * by reference: those the payloads fill at least half of. Keeping a
 * payload keeps its whole buffer, which may be a request whose other
 * results were not stored (a retried push) or one of Node's shared 8 KiB
 * blocks. The payloads in any other buffer are copied.
 *
 * Each buffer maps to its bytes per byte of those payloads (1 to 2), so
 * that the kept payloads together weigh the whole buffer.
 */
function buffersToKeep(payloads: readonly Payload[]): Map<ArrayBufferLike, number> {
  const used = new Map<ArrayBufferLike, number>();
  for (const payload of payloads) {
    const length = writableLength(payload);
    if (length === undefined || length <= COPY_LIMIT_BYTES) continue;
    const tail = sharedTail(payload);
    if (tail) used.set(tail.buffer, (used.get(tail.buffer) ?? 0) + tail.byteLength);
  }
  const keep = new Map<ArrayBufferLike, number>();
  for (const [buffer, bytes] of used) {
    if (bytes * 2 >= buffer.byteLength) keep.set(buffer, buffer.byteLength / bytes);
  }
  return keep;
}
