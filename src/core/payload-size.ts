import { toBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { EncodedPayload } from "./payload-encoding.js";

/**
 * Returns the encoded size of a payload's data in bytes, which is what it
 * adds to a stream message. Text counts its UTF-8 length, and JSON from a
 * request counts its whole encoding, a few bytes more (see
 * EncodedPayload.valueLength).
 */
export function payloadSize(payload: Payload): number {
  const known = EncodedPayload.valueLength(payload);
  if (known !== undefined) return known;
  const data = payload.data;
  switch (data.case) {
    case "binary":
      return data.value.byteLength;
    case "text":
      return Buffer.byteLength(data.value, "utf8");
    case "json":
      return toBinary(ValueSchema, data.value).byteLength;
    default:
      return 0;
  }
}
