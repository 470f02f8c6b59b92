import { create, isMessage, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { type Payload, PayloadSchema } from "../gen/conductor/v1/payload_pb.js";
import { varintSize, writeVarint } from "./varint.js";

/** The set field of an EncodedPayload's data oneof. */
export type EncodedCase = "binary" | "text" | "json" | undefined;

/**
 * A payload decoded from a request that remembers where its encoding lies
 * in the request's bytes, so that sending it on copies those bytes instead
 * of encoding it again. To protobuf-es it is a Payload message like any
 * other; the location is kept in private fields, which serializers do not
 * see.
 *
 * Binary and text values are made from the bytes only when `data` is
 * first read. Most results are stored and sent on without anyone reading
 * them, and making a view or string per result was a large part of the
 * cost of receiving small ones.
 *
 * Only payloads whose bytes are a plain encoding of their one field are
 * made this way, so the bytes decode to the same payload. Conductor never
 * modifies a payload after it is stored, which keeps the bytes current.
 *
 * The store keeps a payload of more than 1 KiB as these bytes when the
 * large payloads of its push fill at least half of the request, and
 * copies it otherwise (see ResultLog).
 * A kept payload keeps the whole request buffer alive, up to twice its
 * own bytes, so the store weighs each kept payload with its share of the
 * buffer.
 */
export class EncodedPayload implements Payload {
  readonly $typeName = "conductor.v1.Payload";
  readonly #source: Buffer;
  /** Bytes #start to #end are the encoded Payload message. */
  readonly #start: number;
  readonly #end: number;
  /** Start of the value of the payload's one field, which ends at #end. */
  readonly #valueStart: number;
  readonly #case: EncodedCase;
  #data: Payload["data"] | undefined;

  /**
   * `source` bytes `start` to `end` are the encoded Payload message, and
   * its one field's value starts at `valueStart`. `data` is required for
   * JSON, whose value was decoded to check it.
   */
  constructor(
    source: Buffer,
    start: number,
    end: number,
    valueStart: number,
    dataCase: EncodedCase,
    data?: Payload["data"],
  ) {
    this.#source = source;
    this.#start = start;
    this.#end = end;
    this.#valueStart = valueStart;
    this.#case = dataCase;
    this.#data = data;
  }

  get data(): Payload["data"] {
    this.#data ??= this.#decode();
    return this.#data;
  }

  set data(_data: Payload["data"]) {
    throw new TypeError(
      "cannot modify an EncodedPayload: its data must match its encoding",
    );
  }

  /** Length of the encoding; undefined for a payload that is no EncodedPayload. */
  static encodedLength(payload: Payload): number | undefined {
    return #source in payload ? payload.#end - payload.#start : undefined;
  }

  /** The bytes an EncodedPayload was decoded from; undefined for any other payload. */
  static source(payload: Payload): Buffer | undefined {
    return #source in payload ? payload.#source : undefined;
  }

  /** The offset in its source at which the encoding of an EncodedPayload starts. */
  static start(payload: EncodedPayload): number {
    return payload.#start;
  }

  /**
   * Bytes of the value of an EncodedPayload: what payloadSize returns, found
   * without making the value. Undefined for any other payload.
   */
  static valueLength(payload: Payload): number | undefined {
    if (!(#source in payload)) return undefined;
    // JSON counts its whole encoding, because measuring the decoded value
    // would mean encoding it again.
    if (payload.#case === "json") return payload.#end - payload.#start;
    return payload.#end - payload.#valueStart;
  }

  /**
   * Copies the encoding of an EncodedPayload into `target` at `offset` and
   * returns the offset after it.
   */
  static copyEncoding(
    payload: EncodedPayload,
    target: Uint8Array,
    offset: number,
  ): number {
    // A view and TypedArray#set: Buffer#copy makes a view of its own
    // after checking its arguments, which costs more for small payloads.
    const source = payload.#source;
    const length = payload.#end - payload.#start;
    target.set(
      new Uint8Array(source.buffer, source.byteOffset + payload.#start, length),
      offset,
    );
    return offset + length;
  }

  /** The encoding of an EncodedPayload, as a view of the bytes it came in. */
  static encoding(payload: EncodedPayload): Buffer {
    return payload.#source.subarray(payload.#start, payload.#end);
  }

  #decode(): Payload["data"] {
    switch (this.#case) {
      case "binary":
        return {
          case: "binary",
          value: this.#source.subarray(this.#valueStart, this.#end),
        };
      case "text":
        return {
          case: "text",
          value: this.#source.toString("utf8", this.#valueStart, this.#end),
        };
      default:
        return { case: undefined };
    }
  }
}

/** Field 1 of Payload: bytes binary. */
export const BINARY_TAG = (1 << 3) | WireType.LengthDelimited;
/** Field 3 of Payload: string text. */
export const TEXT_TAG = (3 << 3) | WireType.LengthDelimited;

/**
 * Bytes of the encoding of `payload` when writePayload can write it in
 * place: a payload from a request, or binary, text or no data. Undefined
 * for JSON built in process, which encodePayload encodes. Writing in place
 * spares an encoding buffer per result, which for results of a few KiB
 * cost more than copying them.
 */
export function writableLength(payload: Payload): number | undefined {
  const known = EncodedPayload.encodedLength(payload);
  if (known !== undefined) return known;
  const data = payload.data;
  switch (data.case) {
    case "binary":
      return fieldLength(data.value.byteLength);
    case "text":
      return fieldLength(Buffer.byteLength(data.value, "utf8"));
    case undefined:
      return 0;
    default:
      return undefined;
  }
}

/**
 * Returns the bytes at the end of a payload's encoding that a store can
 * keep by reference instead of copying: all of it for a payload from a
 * request, and the value of a binary payload. Returns undefined for other
 * payloads.
 */
export function sharedTail(payload: Payload): Uint8Array | undefined {
  if (EncodedPayload.encodedLength(payload) !== undefined) {
    return EncodedPayload.encoding(payload as EncodedPayload);
  }
  const data = payload.data;
  return data.case === "binary" ? data.value : undefined;
}

/**
 * Writes the encoding of a payload that writableLength measured into
 * `target` at `offset` and returns the offset after it. With `withoutTail`,
 * writes only what comes before its sharedTail.
 */
export function writePayload(
  payload: Payload,
  target: Buffer,
  offset: number,
  withoutTail = false,
): number {
  if (EncodedPayload.encodedLength(payload) !== undefined) {
    if (withoutTail) return offset;
    return EncodedPayload.copyEncoding(payload as EncodedPayload, target, offset);
  }
  const data = payload.data;
  if (data.case === "binary") {
    target[offset] = BINARY_TAG;
    offset = writeVarint(target, offset + 1, data.value.byteLength);
    if (withoutTail) return offset;
    target.set(data.value, offset);
    return offset + data.value.byteLength;
  }
  if (data.case === "text") {
    const length = Buffer.byteLength(data.value, "utf8");
    target[offset] = TEXT_TAG;
    offset = writeVarint(target, offset + 1, length);
    return offset + target.write(data.value, offset, length, "utf8");
  }
  return offset;
}

/** Encodes a payload that writableLength cannot measure (JSON built in process). */
export function encodePayload(payload: Payload): Uint8Array {
  const message = isMessage(payload, PayloadSchema)
    ? payload
    : create(PayloadSchema, payload);
  return toBinary(PayloadSchema, message);
}

/** Bytes of a length-delimited field of tag 1 to 15 with a value of `length` bytes. */
function fieldLength(length: number): number {
  return 1 + varintSize(length) + length;
}
