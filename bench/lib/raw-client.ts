import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { keepBytes, passBytes } from "./plain-grpc.js";

/**
 * A grpc-js client that sends and receives encoded messages as they are.
 * Both conductor and the bare servers are called through it, so the client
 * side costs the same in every comparison and no decoding is timed.
 */
export class RawClient {
  readonly #client: grpc.Client;

  constructor(address: string) {
    this.#client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      "grpc.max_receive_message_length": 16 << 20,
      "grpc.max_send_message_length": 16 << 20,
    });
  }

  /** Waits until the channel is connected, so that no round times the connect. */
  async connect(): Promise<void> {
    const deadline = Date.now() + 10_000;
    await new Promise<void>((resolve, reject) =>
      this.#client.waitForReady(deadline, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Makes a unary call and returns the response bytes. */
  unary(path: string, request: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        path,
        passBytes,
        keepBytes,
        request,
        (error, response) =>
          error || !response
            ? reject(error ?? new Error("no response"))
            : resolve(response),
      );
    });
  }

  /**
   * Opens a server stream and calls `onMessage` for every message. Resolves
   * when the stream ends with OK; rejects with the status otherwise.
   */
  serverStream(
    path: string,
    request: Uint8Array,
    onMessage: (message: Buffer) => void,
  ): Promise<void> {
    const call = this.#client.makeServerStreamRequest(
      path,
      passBytes,
      keepBytes,
      request,
    );
    call.on("data", onMessage);
    return new Promise((resolve, reject) => {
      call.on("error", reject);
      call.on("status", (status: grpc.StatusObject) => {
        if (status.code === grpc.status.OK) resolve();
      });
    });
  }

  /**
   * Opens a client stream whose messages the caller writes through the
   * returned writer; `done` resolves with the response bytes.
   */
  clientStream(path: string): StreamWriter {
    let call: grpc.ClientWritableStream<Uint8Array> | undefined;
    const done = new Promise<Buffer>((resolve, reject) => {
      call = this.#client.makeClientStreamRequest(
        path,
        passBytes,
        keepBytes,
        (error, response) =>
          error || !response
            ? reject(error ?? new Error("no response"))
            : resolve(response),
      );
    });
    return new StreamWriter(call as grpc.ClientWritableStream<Uint8Array>, done);
  }

  /**
   * Opens a bidirectional stream, with `metadata` when given, and calls
   * `onMessage` for every message it receives. The caller writes with the
   * returned stream's `write`.
   */
  duplexStream(
    path: string,
    onMessage: (message: Buffer) => void,
    metadata = new grpc.Metadata(),
  ) {
    const call = this.#client.makeBidiStreamRequest(path, passBytes, keepBytes, metadata);
    call.on("data", onMessage);
    call.on("error", () => {});
    return call;
  }

  close(): void {
    this.#client.close();
  }
}

/** The sending side of a client stream, honouring flow control. */
export class StreamWriter {
  readonly #call: grpc.ClientWritableStream<Uint8Array>;
  /** The response, once the server has responded to the half-closed stream. */
  readonly done: Promise<Buffer>;

  constructor(call: grpc.ClientWritableStream<Uint8Array>, done: Promise<Buffer>) {
    this.#call = call;
    this.done = done;
    // A rejection surfaces through `done`; this keeps it from being unhandled
    // while the caller is still writing.
    done.catch(() => {});
  }

  /**
   * Writes one message and waits while the transport's buffer is full.
   * Rejects with the call's error when the call fails meanwhile, since a
   * failed call never drains.
   */
  async write(message: Uint8Array): Promise<void> {
    if (!this.#call.write(message)) {
      await Promise.race([once(this.#call, "drain"), this.done]);
    }
  }

  /** Half-closes the stream and returns the response bytes. */
  end(): Promise<Buffer> {
    this.#call.end();
    return this.done;
  }
}
