import { once } from "node:events";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { PushStreamResponseSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import { BARE_PATHS, type StreamSpec } from "../lib/bare-paths.js";
import { serveCommands } from "../lib/child.js";
import { encodeSubscribeResponses } from "../lib/messages.js";
import { bindLoopback, failCall, keepBytes, passBytes } from "../lib/plain-grpc.js";
import { registerBareJobs } from "./bare-jobs.js";

/**
 * The baseline: a plain @grpc/grpc-js server that sends and receives
 * already-encoded bytes. It does what any gRPC server must do to move the
 * same messages, and nothing else.
 */

const streams = new Map<string, Uint8Array[]>();
let unaryResponse: Uint8Array = new Uint8Array(0);
const ingestResponse = toBinary(
  PushStreamResponseSchema,
  create(PushStreamResponseSchema, { lastSequence: 1n, storedCount: 1n }),
);

async function sendStream(call: grpc.ServerWritableStream<Buffer, Uint8Array>) {
  const messages = streams.get(call.request.toString());
  if (!messages) {
    const key = call.request.toString();
    failCall(call, grpc.status.NOT_FOUND, `stream ${key} was not prepared`);
    return;
  }
  for (const message of messages) {
    if (!call.write(message)) await once(call, "drain");
  }
  call.end();
}

function receiveStream(
  call: grpc.ServerReadableStream<Buffer, Uint8Array>,
  callback: grpc.sendUnaryData<Uint8Array>,
) {
  call.on("data", () => {});
  call.on("end", () => callback(null, ingestResponse));
}

/** Replies to every message of a bidirectional stream with the unary response bytes. */
function echo(call: grpc.ServerDuplexStream<Buffer, Uint8Array>) {
  call.on("data", () => call.write(unaryResponse));
  call.on("end", () => call.end());
}

const server = new grpc.Server();
server.register(BARE_PATHS.stream, sendStream, passBytes, keepBytes, "serverStream");
server.register(BARE_PATHS.ingest, receiveStream, passBytes, keepBytes, "clientStream");
server.register(
  BARE_PATHS.unary,
  (_call: unknown, callback: grpc.sendUnaryData<Uint8Array>) =>
    callback(null, unaryResponse),
  passBytes,
  keepBytes,
  "unary",
);
server.register(BARE_PATHS.echo, echo, passBytes, keepBytes, "bidi");
registerBareJobs(server);

const port = await bindLoopback(server);

serveCommands(port, {
  /** Encodes a stream's messages ahead of time; the key is the spec's JSON. */
  prepareStream(spec: StreamSpec): string {
    const key = JSON.stringify(spec);
    streams.set(
      key,
      encodeSubscribeResponses(spec.count, spec.perMessage, spec.sizeBytes),
    );
    return key;
  },

  /** Sets the bytes every unary call returns. */
  setUnaryResponse({ bytes }: { bytes: Uint8Array }): void {
    unaryResponse = bytes;
  },
});
