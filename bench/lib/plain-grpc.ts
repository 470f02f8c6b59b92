import * as grpc from "@grpc/grpc-js";

/**
 * Pieces shared by the bench's plain grpc-js servers and clients, which
 * move encoded messages as they are.
 */

/** A serializer that hands grpc-js the encoded bytes without copying them. */
export const passBytes = (bytes: Uint8Array): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** A deserializer that keeps the received bytes encoded. */
export const keepBytes = (bytes: Buffer): Buffer => bytes;

/** Binds `server` to a free port on 127.0.0.1 without TLS and returns the port. */
export function bindLoopback(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (error, port) => (error ? reject(error) : resolve(port)),
    ),
  );
}

/**
 * Ends a streaming server call with `code` and `details`. Emitting an error
 * sends that status, while destroying the call sends none.
 */
export function failCall(
  call:
    | grpc.ServerWritableStream<Buffer, Uint8Array>
    | grpc.ServerDuplexStream<Buffer, Uint8Array>,
  code: grpc.status,
  details: string,
): void {
  call.emit("error", { code, details });
}
