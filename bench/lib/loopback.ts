import * as grpc from "@grpc/grpc-js";

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
