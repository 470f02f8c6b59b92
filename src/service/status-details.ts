import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ErrorInfo, type RichServerError } from "nice-grpc-error-details";

/** Trailer that carries a status with its details, as google.rpc.Status. */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

const ERROR_INFO_TYPE_URL = `type.googleapis.com/${ErrorInfo.$type}`;

/**
 * Encodes the google.rpc.Status of `error` for the STATUS_DETAILS_KEY
 * trailer, which rich-error clients in every language decode. Only
 * ErrorInfo details are written, because they are the only kind this
 * server attaches.
 */
export function encodeStatusDetails(error: RichServerError): Uint8Array {
  const writer = new BinaryWriter();
  // google.rpc.Status: int32 code = 1; string message = 2; repeated Any details = 3.
  if (error.code !== 0) writer.tag(1, WireType.Varint).int32(error.code);
  if (error.details !== "") writer.tag(2, WireType.LengthDelimited).string(error.details);
  for (const detail of error.extra) {
    if (detail.$type !== ErrorInfo.$type) continue;
    // google.protobuf.Any: string type_url = 1; bytes value = 2.
    writer.tag(3, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.LengthDelimited).string(ERROR_INFO_TYPE_URL);
    writer.tag(2, WireType.LengthDelimited).bytes(ErrorInfo.encode(detail).finish());
    writer.join();
  }
  return writer.finish();
}
