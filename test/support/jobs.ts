import { ClientError, Status } from "nice-grpc";
import { RichClientError } from "nice-grpc-error-details";
import { expect } from "vitest";
import { jsonPayload } from "../../src/core/payloads.js";
import type { Payload } from "../../src/gen/conductor/v1/payload_pb.js";
import type { Harness } from "./harness.js";

/**
 * Creates a running job whose work is the test itself: the returned lease
 * lets the test push and finish over the wire like a runner would.
 */
export async function startExternalJob(harness: Harness, kind = "external") {
  const { store } = harness.server.conductor;
  const ticket = await store.create({ kind, input: jsonPayload(null), maxRetries: 0 });
  const { lease } = await store.start(ticket);
  return { ticket, lease };
}

/** JSON payloads {n: 1} ... {n: count}. */
export function numbered(count: number, from = 1): Payload[] {
  return Array.from({ length: count }, (_, i) => jsonPayload({ n: from + i }));
}

/** Returns the `n` of a result payload made by `numbered`. */
export function numberOf(payload: Payload | undefined): number {
  if (payload?.data.case !== "json") throw new Error("payload is not JSON");
  const value = payload.data.value;
  if (value.kind.case !== "structValue") throw new Error("payload is not an object");
  const n = value.kind.value.fields.n?.kind;
  if (n?.case !== "numberValue") throw new Error("payload has no n");
  return n.value;
}

/** Awaits `promise` and returns the gRPC error it rejects with. */
export async function grpcError(promise: Promise<unknown>): Promise<ClientError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ClientError);
  return error as ClientError;
}

/** Returns the ErrorInfo reason and metadata attached to a rich error. */
export function errorInfo(error: ClientError) {
  if (!(error instanceof RichClientError)) return undefined;
  const detail = error.extra.find((d) => d.$type === "google.rpc.ErrorInfo");
  return detail as { reason: string; metadata: Record<string, string> } | undefined;
}

/** Collects every message of a stream, and the error that ended it. */
export async function drain<T>(stream: AsyncIterable<T>) {
  const messages: T[] = [];
  try {
    for await (const message of stream) messages.push(message);
    return { messages, code: Status.OK };
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    return { messages, code: error.code, error };
  }
}

/** Pulls two at a time until `count` results were taken; returns them. */
export async function pullCount(
  client: Harness["client"],
  ticket: bigint,
  count: number,
) {
  const taken = [];
  while (taken.length < count) {
    const { results } = await client.pull({
      ticket,
      maxResults: 2,
      wait: { seconds: 5n },
    });
    taken.push(...results);
  }
  return taken;
}
