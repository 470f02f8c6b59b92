import { create, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { type Payload, PayloadSchema } from "./gen/conductor/v1/payload_pb.js";

/** Builds a payload that carries JSON data. */
export function jsonPayload(value: JsonValue): Payload {
  return create(PayloadSchema, {
    data: { case: "json", value: fromJson(ValueSchema, value) },
  });
}

/** Builds a payload that carries bytes. */
export function binaryPayload(bytes: Uint8Array): Payload {
  return create(PayloadSchema, { data: { case: "binary", value: bytes } });
}

/** Builds a payload that carries UTF-8 text. */
export function textPayload(text: string): Payload {
  return create(PayloadSchema, { data: { case: "text", value: text } });
}

/**
 * Returns an upper bound of the payload's encoded size in bytes. Bytes and
 * text are estimated without encoding; JSON is encoded to measure it.
 */
export function payloadSizeBound(payload: Payload): number {
  const overhead = 16;
  switch (payload.data.case) {
    case "binary":
      return payload.data.value.byteLength + overhead;
    case "text":
      return payload.data.value.length * 3 + overhead;
    case "json":
      return toBinary(PayloadSchema, payload).byteLength + overhead;
    default:
      return overhead;
  }
}
