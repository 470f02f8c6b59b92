import { create, isMessage, toBinary } from "@bufbuild/protobuf";
import { type Payload, PayloadSchema } from "../gen/conductor/v1/payload_pb.js";

/**
 * A payload decoded from a request that remembers where its encoding lies
 * in the request's bytes, so that sending it on copies those bytes instead
 * of encoding it again. To protobuf-es it is a Payload message like any
 * other; the location is kept in private fields, which equality checks
 * and serializers do not see.
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
  data: Payload["data"];
  readonly #source: Buffer;
  readonly #start: number;
  readonly #end: number;

  /** `source` bytes `start` to `end` are the encoded Payload message. */
  constructor(data: Payload["data"], source: Buffer, start: number, end: number) {
    this.data = data;
    this.#source = source;
    this.#start = start;
    this.#end = end;
  }

  /** Length of the encoding; undefined for a payload that is no EncodedPayload. */
  static encodedLength(payload: Payload): number | undefined {
    return #source in payload ? payload.#end - payload.#start : undefined;
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
}

/** Encodes a payload that did not come from a request. */
export function encodePayload(payload: Payload): Uint8Array {
  const message = isMessage(payload, PayloadSchema)
    ? payload
    : create(PayloadSchema, payload);
  return toBinary(PayloadSchema, message);
}
