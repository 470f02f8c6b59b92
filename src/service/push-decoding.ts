import { isUtf8 } from "node:buffer";
import { create, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { EncodedPayload } from "../core/payload-encoding.js";
import type {
  PushPipelineRequestSchema,
  PushRequestSchema,
  PushStreamRequestSchema,
} from "../gen/conductor/v1/conductor_pb.js";
import { type Payload, ProgressSchema } from "../gen/conductor/v1/payload_pb.js";

type PushSchema =
  | typeof PushRequestSchema
  | typeof PushStreamRequestSchema
  | typeof PushPipelineRequestSchema;

/**
 * Decodes a PushRequest, PushStreamRequest or PushPipelineRequest, making each result an
 * EncodedPayload that keeps its wire bytes. Decoding payloads this way
 * costs a fraction of protobuf-es's generic decoder, and sending them on
 * needs no encoding.
 *
 * Returns undefined for any request outside the common shape: unknown or
 * repeated message fields, a payload with more than one field, text that
 * is not valid UTF-8, malformed bytes. The caller then decodes it with
 * fromBinary, which keeps protobuf's rules for all of those and names
 * what is malformed. Never throws.
 */
export function decodePushRequest<S extends PushSchema>(
  schema: S,
  bytes: Uint8Array,
): MessageShape<S> | undefined {
  try {
    return decodeFields(schema, bytes);
  } catch {
    return undefined;
  }
}

function decodeFields<S extends PushSchema>(
  schema: S,
  bytes: Uint8Array,
): MessageShape<S> | undefined {
  const reader = new Reader(bytes);
  let ticket = 0n;
  let lease = "";
  let firstSequence = 0n;
  let progress: MessageShape<typeof ProgressSchema> | undefined;
  const results: Payload[] = [];
  while (reader.offset < bytes.length) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wireType !== WireType.Varint) return undefined;
        ticket = reader.uint64();
        break;
      case 2: {
        if (wireType !== WireType.LengthDelimited) return undefined;
        const start = reader.field();
        // fromBinary rejects a string that is not UTF-8, which is the caller's mistake.
        if (!isUtf8(reader.bytes(start, reader.fieldEnd))) return undefined;
        lease = reader.text(start, reader.fieldEnd);
        break;
      }
      case 3: {
        if (wireType !== WireType.LengthDelimited) return undefined;
        const payload = reader.payload(reader.field(), reader.fieldEnd);
        if (!payload) return undefined;
        results.push(payload);
        break;
      }
      case 4:
        // A repeated message field merges, which fromBinary handles.
        if (wireType !== WireType.LengthDelimited || progress) return undefined;
        progress = fromBinary(
          ProgressSchema,
          reader.bytes(reader.field(), reader.fieldEnd),
        );
        break;
      case 5:
        if (wireType !== WireType.Varint) return undefined;
        firstSequence = reader.uint64();
        break;
      default:
        return undefined;
    }
  }
  // The push request types have the same fields, so one init fits each.
  // The results are set afterwards: create would check every element of
  // the list to see whether it is a message already.
  const init = { ticket, lease, progress, firstSequence };
  const request = create(schema as typeof PushStreamRequestSchema, init);
  request.results = results;
  return request as MessageShape<S>;
}

/** Reads protobuf fields of one message; throws on bytes that end too early. */
class Reader {
  readonly #bytes: Uint8Array;
  /** The same memory as a Buffer, for its fast UTF-8 decoding and copying. */
  readonly #buffer: Buffer;
  offset = 0;
  /** End of the body of the field last read with field(). */
  fieldEnd = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** A varint below 2^32, such as a tag or a length. */
  uint32(): number {
    const first = this.#next();
    if (first < 0x80) return first;
    let value = first & 0x7f;
    for (let shift = 7; shift < 35; shift += 7) {
      const byte = this.#next();
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (value >= 2 ** 32) break;
        return value;
      }
    }
    throw new RangeError("invalid varint");
  }

  /** A varint of up to 10 bytes as a uint64: higher bits are dropped, as protobuf does. */
  uint64(): bigint {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.#next();
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, value);
    }
    throw new RangeError("invalid varint");
  }

  /**
   * Reads the length of a length-delimited field, skips its body and
   * returns where the body starts; fieldEnd is where it ends.
   */
  field(): number {
    const length = this.uint32();
    const start = this.offset;
    const end = start + length;
    if (end > this.#bytes.length) throw new RangeError("field past the end");
    this.offset = end;
    this.fieldEnd = end;
    return start;
  }

  /** A view of bytes start..end, as fromBinary gives for bytes fields. */
  bytes(start: number, end: number): Uint8Array {
    return this.#bytes.subarray(start, end);
  }

  /** Decodes bytes start..end, which must be valid UTF-8, as a string. */
  text(start: number, end: number): string {
    return this.#buffer.toString("utf8", start, end);
  }

  /** The Payload in bytes start..end; undefined for one fromBinary should decode. */
  payload(start: number, end: number): Payload | undefined {
    if (start === end)
      return new EncodedPayload(this.#buffer, start, end, end, undefined);
    const saved = this.offset;
    this.offset = start;
    const tag = this.uint32();
    const valueStart = (tag & 7) === WireType.LengthDelimited ? this.field() : -1;
    this.offset = saved;
    if (valueStart < 0 || this.fieldEnd !== end) return undefined;
    switch (tag >>> 3) {
      case 1:
        return new EncodedPayload(this.#buffer, start, end, valueStart, "binary");
      case 2: {
        // JSON is decoded now: a malformed Value must be rejected, not stored.
        const value = fromBinary(ValueSchema, this.bytes(valueStart, end));
        const data = { case: "json" as const, value };
        return new EncodedPayload(this.#buffer, start, end, valueStart, "json", data);
      }
      case 3:
        if (!isUtf8(this.bytes(valueStart, end))) return undefined;
        return new EncodedPayload(this.#buffer, start, end, valueStart, "text");
      default:
        return undefined;
    }
  }

  #next(): number {
    const byte = this.#bytes[this.offset++];
    if (byte === undefined) throw new RangeError("message ends inside a varint");
    return byte;
  }
}
