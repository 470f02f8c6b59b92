import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import { MemoryStore } from "../../src/core/memory-store.js";
import { PushStreamRequestSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import { PayloadSchema } from "../../src/gen/conductor/v1/payload_pb.js";
import { decodePushRequest } from "../../src/service/push-decoding.js";
import { serveCommands } from "../lib/child.js";
import { binaryPayloads, encodePushStreamRequest } from "../lib/messages.js";

/**
 * Measures the in-memory store in this process, which must run with
 * --expose-gc: the heap and RSS each live ticket adds, and the CPU time
 * and heap left after all of them expire.
 */

/** The parameters of one probe run. */
export interface ProbeSpec {
  readonly tickets: number;
  /** Results of `sizeBytes` buffered per ticket; 0 leaves tickets queued. */
  readonly resultsPerTicket: number;
  readonly sizeBytes: number;
}

export interface ProbeResult {
  readonly heapPerTicketBytes: number;
  readonly rssPerTicketBytes: number;
  /** CPU time, user and system, from the last finish until all tickets expired. */
  readonly expiryCpuMs: number;
  /** Heap after expiry and a full GC, minus the heap before any ticket. */
  readonly heapLeftBytes: number;
}

const TIMEOUT_MS = 500;

const gc = (globalThis as { gc?: () => void }).gc;

/** Collects garbage until the heap stops shrinking and returns its used size. */
function settledHeap(): number {
  if (!gc) throw new Error("the memory probe needs node --expose-gc");
  let previous = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    gc();
    const used = process.memoryUsage().heapUsed;
    if (used >= previous) return used;
    previous = used;
  }
  return previous;
}

/**
 * Runs the measurement twice and returns the second, each run with a store
 * of its own. The first run lets the JIT compile the code involved, so that
 * the compiled code does not count as heap left after expiry.
 */
async function probe(spec: ProbeSpec): Promise<ProbeResult> {
  await measure({ ...spec, tickets: Math.min(spec.tickets, 10_000) });
  return measure(spec);
}

async function measure(spec: ProbeSpec): Promise<ProbeResult> {
  const tickets: bigint[] = new Array(spec.tickets).fill(0n);
  const leases: string[] = new Array(spec.tickets).fill("");
  const request = encodePushStreamRequest(
    1n,
    "lease",
    binaryPayloads(spec.resultsPerTicket, spec.sizeBytes),
  );
  const store = new MemoryStore({
    maxData: 1000,
    timeoutMs: TIMEOUT_MS,
    maxTickets: spec.tickets,
  });
  const heapBefore = settledHeap();
  const rssBefore = process.memoryUsage().rss;

  for (let i = 0; i < spec.tickets; i++) {
    tickets[i] = await store.create({
      kind: "bench",
      input: create(PayloadSchema),
      maxRetries: 0,
    });
  }
  if (spec.resultsPerTicket > 0) {
    for (let i = 0; i < spec.tickets; i++) {
      const ticket = tickets[i] as bigint;
      const { lease } = await store.start(ticket);
      leases[i] = lease;
      // Each ticket gets its own request buffer, as each push would.
      const decoded = decodePushRequest(PushStreamRequestSchema, Buffer.from(request));
      if (!decoded) throw new Error("the push request did not decode");
      await store.push(ticket, lease, decoded.results);
    }
  }
  const heapLive = settledHeap();
  const rssLive = process.memoryUsage().rss;

  for (let i = 0; i < spec.tickets; i++) {
    const ticket = tickets[i] as bigint;
    if (spec.resultsPerTicket > 0) await store.finish(ticket, leases[i] as string);
    else await store.cancel(ticket);
  }
  tickets.fill(0n);
  leases.fill("");
  const cpuBefore = process.cpuUsage();
  while (store.size > 0) await sleep(50);
  const cpu = process.cpuUsage(cpuBefore);
  const heapAfter = settledHeap();
  await store.close();

  return {
    heapPerTicketBytes: (heapLive - heapBefore) / spec.tickets,
    rssPerTicketBytes: (rssLive - rssBefore) / spec.tickets,
    expiryCpuMs: (cpu.user + cpu.system) / 1000,
    heapLeftBytes: heapAfter - heapBefore,
  };
}

serveCommands(0, { probe });
