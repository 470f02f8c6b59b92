import { fromBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { type Payload, PayloadSchema } from "../gen/conductor/v1/payload_pb.js";
import {
  BINARY_TAG,
  type EncodedCase,
  EncodedPayload,
  TEXT_TAG,
} from "./payload-encoding.js";
import type { Result } from "./ticket-store.js";
import { readVarint, varintSize, writeVarint } from "./varint.js";

/**
 * Results are stored in the bytes Subscribe and Pull send them in: each is
 * a `Result` message framed as field 1, which is `repeated Result results`
 * in both SubscribeResponse and PullResponse. A response is then its
 * results' bytes copied in a few runs, instead of being encoded result by
 * result on every read.
 */

/** Field 1 of SubscribeResponse and PullResponse: repeated Result results. */
const RESULTS_TAG = (1 << 3) | WireType.LengthDelimited;
/** Field 1 of Result: uint64 sequence. */
const SEQUENCE_TAG = 1 << 3;
/** Field 2 of Result: Payload payload. */
const PAYLOAD_TAG = (2 << 3) | WireType.LengthDelimited;

/** Returns the bytes of a stored result of `body` bytes, field tag and length included. */
export function storedResultSize(body: number): number {
  return 1 + varintSize(body) + body;
}

/**
 * Writes the framing of a stored result up to its payload's bytes, which
 * the caller writes next (`payloadLength` of them). Returns the offset
 * where they go. `body` is the result's resultBodySize.
 */
export function writeResultHeader(
  target: Uint8Array,
  offset: number,
  sequence: number,
  payloadLength: number,
  body: number,
): number {
  target[offset++] = RESULTS_TAG;
  offset = writeVarint(target, offset, body);
  target[offset++] = SEQUENCE_TAG;
  offset = writeVarint(target, offset, sequence);
  target[offset++] = PAYLOAD_TAG;
  return writeVarint(target, offset, payloadLength);
}

/**
 * Returns the bytes of a stored result after its tag and length. Sequences
 * start at 1, so the sequence field is always written.
 */
export function resultBodySize(sequence: number, payloadLength: number): number {
  return 1 + varintSize(sequence) + 1 + varintSize(payloadLength) + payloadLength;
}

/**
 * The results of one read, as the runs of stored bytes that hold them.
 * Sending them copies the runs; `toArray` makes Result objects for callers
 * in the process.
 */
export class StoredResults {
  static readonly EMPTY = new StoredResults(0, 0, []);

  /** Bytes of all the results. */
  readonly byteLength: number;

  /**
   * `count` results with sequences from `firstSequence` on, stored in
   * `runs` back to back.
   */
  constructor(
    readonly count: number,
    readonly firstSequence: number,
    readonly runs: readonly Uint8Array[],
  ) {
    let byteLength = 0;
    for (const run of runs) byteLength += run.byteLength;
    this.byteLength = byteLength;
  }

  /** Sequence of the last result; undefined when there is none. */
  get lastSequence(): bigint | undefined {
    return this.count === 0 ? undefined : BigInt(this.firstSequence + this.count - 1);
  }

  /** Copies the results' bytes into `target` at `offset`; returns the offset after them. */
  copyTo(target: Uint8Array, offset: number): number {
    for (const run of this.runs) {
      target.set(run, offset);
      offset += run.byteLength;
    }
    return offset;
  }

  /** Decodes the results, for callers in the process. */
  toArray(): Result[] {
    // A result may span runs (its payload can be kept apart from its
    // framing), so the runs are joined first.
    const bytes =
      this.runs.length === 1 ? (this.runs[0] as Uint8Array) : Buffer.concat(this.runs);
    const results: Result[] = [];
    let offset = 0;
    while (offset < bytes.byteLength) offset = readResult(bytes, offset, results);
    return results;
  }
}

/** Decodes the stored result at `offset` of `run` into `out`; returns the offset after it. */
function readResult(run: Uint8Array, offset: number, out: Result[]): number {
  const body = readVarint(run, offset + 1);
  const end = body.next + body.value;
  const sequence = readVarint(run, body.next + 1);
  const length = readVarint(run, sequence.next + 1);
  const bytes = Buffer.from(run.buffer, run.byteOffset, run.byteLength);
  const payload = storedPayload(bytes, length.next, end);
  out.push({ sequence: BigInt(sequence.value), payload });
  return end;
}

/**
 * Reads the payload stored at `start` to `end` of `bytes`. Binary and text
 * of one field are read lazily, as from a request, and anything else is
 * decoded.
 */
function storedPayload(bytes: Buffer, start: number, end: number): Payload {
  if (start < end) {
    const tag = bytes[start] as number;
    const dataCase = caseOf(tag);
    if (dataCase) {
      const value = readVarint(bytes, start + 1);
      if (value.next + value.value === end) {
        return new EncodedPayload(bytes, start, end, value.next, dataCase);
      }
    }
  }
  return fromBinary(PayloadSchema, bytes.subarray(start, end));
}

function caseOf(tag: number): EncodedCase {
  if (tag === BINARY_TAG) return "binary";
  if (tag === TEXT_TAG) return "text";
  return undefined;
}
