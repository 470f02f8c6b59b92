import { Child } from "../lib/child.js";
import { below, type Row, type Section } from "../lib/report.js";
import type { RunOptions, Scenario } from "../lib/scenario.js";
import type { ProbeResult, ProbeSpec } from "../servers/memory-probe.js";

const PROBE = new URL("../servers/memory-probe.js", import.meta.url);
const RESULTS_PER_TICKET = 10;
const SIZE_BYTES = 64;
/** Heap left after expiry that still counts as "back where it started". */
const HEAP_LEFT_LIMIT_BYTES = 1 << 20;

function ticketCounts(options: RunOptions): number[] {
  return options.quick ? [10_000] : [10_000, 100_000];
}

/**
 * Scenario 6: memory per live ticket in the in-memory store, idle and
 * with buffered results, and the cost of expiring every ticket. Each
 * measurement runs in a fresh process with --expose-gc, without gRPC.
 */
export const memoryScenario: Scenario = {
  name: "memory",
  async run(options) {
    const rows: Row[] = [];
    for (const tickets of ticketCounts(options)) {
      for (const resultsPerTicket of [0, RESULTS_PER_TICKET]) {
        const spec: ProbeSpec = { tickets, resultsPerTicket, sizeBytes: SIZE_BYTES };
        rows.push(...probeRows(spec, await runProbe(spec)));
      }
    }
    return {
      title: "6. Memory per live ticket and the cost of expiry",
      legend: "value: heap or RSS per ticket, CPU time and heap left after expiring all",
      rows,
      notes: [
        "queued tickets are idle; buffered ones were started and got one push of " +
          `${RESULTS_PER_TICKET} results of ${SIZE_BYTES} B each, decoded as a request is`,
        "expiry: every ticket is cancelled or finished, then the store's timer " +
          "removes them; CPU is counted from the last finish until none is left",
      ],
    } satisfies Section;
  },
};

function probeRows(spec: ProbeSpec, result: ProbeResult): Row[] {
  const what = `${spec.tickets.toLocaleString("en-US")} tickets, ${
    spec.resultsPerTicket === 0 ? "idle" : `${spec.resultsPerTicket} results each`
  }`;
  const bytes = (value: number) => ({ value, unit: "bytes" as const });
  const idle = spec.resultsPerTicket === 0;
  const rows: Row[] = [
    {
      label: `${what}: heap per ticket`,
      value: bytes(result.heapPerTicketBytes),
      target: idle ? below(result.heapPerTicketBytes, 2048, "bytes") : undefined,
    },
    { label: `${what}: RSS per ticket`, value: bytes(result.rssPerTicketBytes) },
    {
      label: `${what}: CPU to expire all`,
      value: { value: result.expiryCpuMs, unit: "milliseconds" },
      target:
        spec.tickets >= 100_000
          ? below(result.expiryCpuMs, 1000, "milliseconds")
          : undefined,
    },
    {
      label: `${what}: heap left after expiry`,
      value: bytes(result.heapLeftBytes),
      target: below(result.heapLeftBytes, HEAP_LEFT_LIMIT_BYTES, "bytes"),
    },
  ];
  return rows;
}

async function runProbe(spec: ProbeSpec): Promise<ProbeResult> {
  const child = await Child.start(PROBE, {}, { nodeFlags: ["--expose-gc"] });
  try {
    return await child.request<ProbeResult>("probe", spec);
  } finally {
    await child.stop();
  }
}
