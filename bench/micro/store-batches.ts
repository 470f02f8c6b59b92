import { create, toBinary } from "@bufbuild/protobuf";
import { Conductor } from "../../src/core/conductor.js";
import { MemoryStore } from "../../src/core/memory-store.js";
import { jsonPayload } from "../../src/core/payloads.js";
import { PushStreamRequestSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import { ObservedStore } from "../../src/observability/observed-store.js";
import { decodePushRequest } from "../../src/service/push-decoding.js";
import { encodeSubscribeResponse } from "../../src/service/result-encoding.js";
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

const store = new ObservedStore(
  new MemoryStore({ maxData: MESSAGES * RESULTS_PER_MESSAGE, timeoutMs: 60_000 }),
);
const conductor = new Conductor(store);
const payloads = binaryPayloads(RESULTS_PER_MESSAGE, 64);

async function round(): Promise<{ ingestUs: number; deliverUs: number }> {
  const ticket = await store.create({
    kind: "bench",
    input: jsonPayload(null),
    maxRetries: 0,
  });
  const { lease } = await store.start(ticket);
  const init = { ticket, lease, results: payloads };
  const bytes = toBinary(PushStreamRequestSchema, create(PushStreamRequestSchema, init));
  let startMs = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    // A fresh copy per message, as each one arrives in its own buffer.
    const request = decodePushRequest(PushStreamRequestSchema, Buffer.from(bytes));
    if (!request) throw new Error("the push request did not decode");
    await conductor.push(ticket, lease, request.results);
  }
  const ingestUs = ((performance.now() - startMs) * 1000) / MESSAGES;
  await conductor.finish(ticket, lease);
  const reads = conductor.subscribe(ticket, {
    maxResults: RESULTS_PER_MESSAGE,
    maxBytes: 1 << 20,
  });
  startMs = performance.now();
  let batches = 0;
  for (let batch = await reads.next(); batch; batch = await reads.next()) {
    encodeSubscribeResponse({ results: batch.results });
    batches += 1;
  }
  const deliverUs = ((performance.now() - startMs) * 1000) / batches;
  await store.cancel(ticket).catch(() => undefined);
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
