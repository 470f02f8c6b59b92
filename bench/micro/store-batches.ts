import { create, toBinary } from "@bufbuild/protobuf";
import { Conductor } from "../../src/core/conductor.js";
import { MemoryStore } from "../../src/core/memory-store.js";
import { jsonPayload } from "../../src/core/payloads.js";
import { PushStreamRequestSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import { ObservedStore } from "../../src/observability/observed-store.js";
import { decodePushRequest } from "../../src/service/push-decoding.js";
import {
  encodeSubscribeResponse,
  subscribeResponse,
} from "../../src/service/result-encoding.js";
import { binaryPayloads } from "../lib/messages.js";
import { median } from "../lib/stats.js";

/**
 * Times, in one process and without gRPC, what the server does per
 * message of 256 results of 64 B: decoding a PushStream message and
 * storing its results, then reading them back in Subscribe batches and
 * encoding each batch. Prints the medians over five rounds of 800
 * messages, garbage collection included.
 *
 * usage: node dist/benchmarks/bench/micro/store-batches.js
 */

const MESSAGES = 800;
const RESULTS_PER_MESSAGE = 256;
const ROUNDS = 5;

// Delivered results are not kept for resumed reads, so that each round
// leaves nothing behind for the next one's garbage collection.
const store = new ObservedStore(
  new MemoryStore({
    maxData: MESSAGES * RESULTS_PER_MESSAGE,
    timeoutMs: 60_000,
    retainDelivered: 0,
    retainBytes: 0,
  }),
);
const conductor = new Conductor(store);
const payloads = binaryPayloads(RESULTS_PER_MESSAGE, 64);

/** Returns the time per message to decode and store MESSAGES messages, in µs. */
async function timeIngest(ticket: bigint, lease: string): Promise<number> {
  const init = { ticket, lease, results: payloads };
  const bytes = toBinary(PushStreamRequestSchema, create(PushStreamRequestSchema, init));
  const startMs = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    // A fresh copy per message, as each one arrives in its own buffer.
    const request = decodePushRequest(PushStreamRequestSchema, Buffer.from(bytes));
    if (!request) throw new Error("the push request failed to decode");
    await conductor.push(ticket, lease, request.results);
  }
  return ((performance.now() - startMs) * 1000) / MESSAGES;
}

/** Returns the time per batch to read and encode every result of `ticket`, in µs. */
async function timeDelivery(ticket: bigint): Promise<number> {
  const reads = conductor.subscribe(ticket, {
    maxResults: RESULTS_PER_MESSAGE,
    maxBytes: 1 << 20,
  });
  const startMs = performance.now();
  let batches = 0;
  for (let batch = await reads.next(); batch; batch = await reads.next()) {
    encodeSubscribeResponse(subscribeResponse(batch.results, undefined));
    batches += 1;
  }
  return ((performance.now() - startMs) * 1000) / batches;
}

async function round(): Promise<{ ingestUs: number; deliverUs: number }> {
  const input = jsonPayload(null);
  const ticket = await store.create({ kind: "bench", input, maxRetries: 0 });
  const { lease } = await store.start(ticket);

  const ingestUs = await timeIngest(ticket, lease);
  await conductor.finish(ticket, lease);
  const deliverUs = await timeDelivery(ticket);
  return { ingestUs, deliverUs };
}

await round();
const rounds: { ingestUs: number; deliverUs: number }[] = [];
for (let i = 0; i < ROUNDS; i++) rounds.push(await round());
const ingest = median(rounds.map((r) => r.ingestUs));
const deliver = median(rounds.map((r) => r.deliverUs));
console.log(`decode and store one message of 256 results: ${ingest.toFixed(1)} µs`);
console.log(
  `read and encode one Subscribe batch of 256 results: ${deliver.toFixed(1)} µs`,
);
