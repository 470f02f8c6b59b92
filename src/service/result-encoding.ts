import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { EncodedPayload, encodePayload } from "../core/payload-encoding.js";
import { varintSize, writeVarint } from "../core/varint.js";
import type {
  PullResponseSchema,
  SubscribeResponseSchema,
} from "../gen/conductor/v1/conductor_pb.js";
import { type Payload, ProgressSchema } from "../gen/conductor/v1/payload_pb.js";

/**
 * Hand-written encoders for the messages that carry results. A payload
 * that came from a request is copied in as the bytes it arrived in (see
 * EncodedPayload) instead of being encoded field by field, which was most
 * of the cost of a response with many results. For payloads in canonical
 * encoding the output is the bytes toBinary would produce.
 */

type ResultInit = NonNullable<
  MessageInitShape<typeof SubscribeResponseSchema>["results"]
>[number];

/** Field 1 of SubscribeResponse and PullResponse: repeated Result results. */
const RESULTS_TAG = (1 << 3) | WireType.LengthDelimited;
/** Field 1 of Result: uint64 sequence. */
const SEQUENCE_TAG = 1 << 3;
/** Field 2 of Result: Payload payload. */
const PAYLOAD_TAG = (2 << 3) | WireType.LengthDelimited;
/** Field 2 of SubscribeResponse: Progress progress. */
const PROGRESS_TAG = (2 << 3) | WireType.LengthDelimited;
/** Field 2 of PullResponse: JobState state. */
const STATE_TAG = 2 << 3;

/** Encodes a SubscribeResponse. */
export function encodeSubscribeResponse(
  response: MessageInitShape<typeof SubscribeResponseSchema>,
): Uint8Array {
  let tail: Uint8Array | undefined;
  if (response.progress) {
    const progress = toBinary(ProgressSchema, create(ProgressSchema, response.progress));
    tail = lengthDelimited(PROGRESS_TAG, progress);
  }
  return encodeResults(response.results ?? [], tail);
}

/** Encodes a PullResponse. */
export function encodePullResponse(
  response: MessageInitShape<typeof PullResponseSchema>,
): Uint8Array {
  const state = response.state ?? 0;
  let tail: Uint8Array | undefined;
  if (state !== 0) {
    tail = new Uint8Array(1 + varintSize(state));
    tail[0] = STATE_TAG;
    writeVarint(tail, 1, state);
  }
  return encodeResults(response.results ?? [], tail);
}

/** The results of one message, measured before they are written. */
interface Layout {
  readonly sequences: number[];
  /** Encoded length of each payload; -1 for a result without one. */
  readonly payloadLengths: number[];
  /** Fresh encodings of the payloads that did not come from a request. */
  readonly encodings: (Uint8Array | undefined)[];
  /** Bytes of the whole message. */
  readonly size: number;
}

/** Encodes a message of repeated results (field 1) followed by the encoded `tail`. */
function encodeResults(results: readonly ResultInit[], tail: Uint8Array | undefined) {
  const layout = measure(results, tail?.byteLength ?? 0);
  const out = Buffer.allocUnsafe(layout.size);
  let offset = 0;
  for (let i = 0; i < results.length; i++) {
    const sequence = layout.sequences[i] as number;
    const payloadLength = layout.payloadLengths[i] as number;
    out[offset++] = RESULTS_TAG;
    offset = writeVarint(out, offset, resultSize(sequence, payloadLength));
    if (sequence !== 0) {
      out[offset++] = SEQUENCE_TAG;
      offset = writeVarint(out, offset, sequence);
    }
    if (payloadLength < 0) continue;
    out[offset++] = PAYLOAD_TAG;
    offset = writeVarint(out, offset, payloadLength);
    const fresh = layout.encodings[i];
    if (fresh) {
      out.set(fresh, offset);
      offset += payloadLength;
    } else {
      const payload = (results[i] as ResultInit).payload as EncodedPayload;
      offset = EncodedPayload.copyEncoding(payload, out, offset);
    }
  }
  if (tail) out.set(tail, offset);
  return out;
}

/** Measures the encoding of `results`, encoding the payloads that need it. */
function measure(results: readonly ResultInit[], tailSize: number): Layout {
  const sequences: number[] = new Array(results.length);
  const payloadLengths: number[] = new Array(results.length);
  const encodings: (Uint8Array | undefined)[] = [];
  let size = tailSize;
  for (let i = 0; i < results.length; i++) {
    const result = results[i] as ResultInit;
    const payload = result.payload as Payload | undefined;
    let payloadLength = -1;
    if (payload) {
      payloadLength = EncodedPayload.encodedLength(payload) ?? -1;
      if (payloadLength < 0) {
        const encoding = encodePayload(payload);
        encodings[i] = encoding;
        payloadLength = encoding.byteLength;
      }
    }
    const sequence = safeSequence(result.sequence ?? 0n);
    sequences[i] = sequence;
    payloadLengths[i] = payloadLength;
    const inner = resultSize(sequence, payloadLength);
    size += 1 + varintSize(inner) + inner;
  }
  return { sequences, payloadLengths, encodings, size };
}

/** Encoded size of a Result without its own tag and length; payloadLength -1 means no payload. */
function resultSize(sequence: number, payloadLength: number): number {
  let size = sequence === 0 ? 0 : 1 + varintSize(sequence);
  if (payloadLength >= 0) size += 1 + varintSize(payloadLength) + payloadLength;
  return size;
}

/**
 * Converts a sequence to a number. Sequences count results of one ticket,
 * so they stay far below 2^53; a larger one is a bug, not an input.
 */
function safeSequence(sequence: bigint | number | string): number {
  const value = Number(sequence);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`sequence ${sequence} is not an integer from 0 to 2^53 - 1`);
  }
  return value;
}

function lengthDelimited(tag: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintSize(body.byteLength) + body.byteLength);
  out[0] = tag;
  out.set(body, writeVarint(out, 1, body.byteLength));
  return out;
}
