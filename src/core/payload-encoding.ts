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
 * NOTE: the payload keeps the whole request buffer alive, so one retained
 * small result can hold a request of up to the message size limit.
 * Retention counts payload bytes only and does not see this.
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
    return offset + payload.#source.copy(target, offset, payload.#start, payload.#end);
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
const BINARY_TAG = (1 << 3) | WireType.LengthDelimited;
/** Field 3 of Payload: string text. */
const TEXT_TAG = (3 << 3) | WireType.LengthDelimited;

/**
 * Encodes a payload that did not come from a request, such as a result of
 * an in-process job. Binary and text values are written directly rather
 * than by toBinary, which took nearly a fifth of the server's CPU per
 * message of one small result (docs/benchmarks.md, change 11). JSON goes
 * through toBinary.
 */
export function encodePayload(payload: Payload): Uint8Array {
  const data = payload.data;
  if (data.case === "binary") {
    const out = withHeader(BINARY_TAG, data.value.byteLength);
    out.buffer.set(data.value, out.offset);
    return out.buffer;
  }
  if (data.case === "text") {
    const out = withHeader(TEXT_TAG, Buffer.byteLength(data.value, "utf8"));
    out.buffer.write(data.value, out.offset, "utf8");
    return out.buffer;
  }
  const message = isMessage(payload, PayloadSchema)
    ? payload
    : create(PayloadSchema, payload);
  return toBinary(PayloadSchema, message);
}

/** Allocates a buffer for one length-delimited field and writes its tag and length. */
function withHeader(tag: number, length: number): { buffer: Buffer; offset: number } {
  const buffer = Buffer.allocUnsafe(1 + varintSize(length) + length);
  buffer[0] = tag;
  return { buffer, offset: writeVarint(buffer, 1, length) };
}
