import { create } from "@bufbuild/protobuf";
import type { CallContext } from "nice-grpc";
import { Conductor } from "../../src/core/conductor.js";
import { MemoryStore } from "../../src/core/memory-store.js";
import { jsonPayload } from "../../src/core/payloads.js";
import { SubscribeRequestSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import type { Payload } from "../../src/gen/conductor/v1/payload_pb.js";
import { ObservedStore } from "../../src/observability/observed-store.js";
import { conductorService } from "../../src/service/conductor-service.js";
import { binaryPayloads } from "../lib/messages.js";
import { median } from "../lib/stats.js";

/**
 * Times the wake-up path in one process, without gRPC: a Subscribe
 * handler waits, one result of 64 B is pushed, and the handler yields it.
 * Prints the median time per result over five rounds of 50,000.
 *
 * usage: node dist/benchmarks/bench/micro/deliver-one.js
 */

const RESULTS = 50_000;
const ROUNDS = 5;

const store = new ObservedStore(new MemoryStore({ maxData: 1000, timeoutMs: 1000 }));
const conductor = new Conductor(store);
const service = conductorService(conductor);
const payload = binaryPayloads(1, 64)[0] as Payload;

async function round(): Promise<number> {
  const ticket = await store.create({
    kind: "bench",
    input: jsonPayload(null),
    maxRetries: 0,
  });
  const { lease } = await store.start(ticket);
  const call = new AbortController();
  // The handler reads only the signal of its call context.
  const context = { signal: call.signal } as unknown as CallContext;
  const request = create(SubscribeRequestSchema, { ticket });
  const responses = service.subscribe(request, context)[Symbol.asyncIterator]();
  const startMs = performance.now();
  for (let i = 0; i < RESULTS; i++) {
    const next = responses.next();
    await conductor.push(ticket, lease, [payload]);
    await next;
  }
  const microseconds = ((performance.now() - startMs) * 1000) / RESULTS;
  call.abort();
  await responses.return?.(undefined);
  return microseconds;
}

await round();
const times: number[] = [];
for (let i = 0; i < ROUNDS; i++) times.push(await round());
console.log(`push, wake-up and delivery of one result: ${median(times).toFixed(2)} µs`);
