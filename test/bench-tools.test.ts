import { afterEach, describe, expect, it } from "vitest";
import { CONDUCTOR_PATHS } from "../bench/lib/conductor-calls.js";
import { encodePushStreamRequest } from "../bench/lib/messages.js";
import { RawClient } from "../bench/lib/raw-client.js";
import {
  formatSection,
  type Row,
  ratioAtLeast,
  ratioAtMost,
  type Target,
} from "../bench/lib/report.js";
import { compare, type Sample } from "../bench/lib/scenario.js";
import { sourceGroup } from "../bench/lib/source-group.js";
import { binaryPayload } from "../src/core/payloads.js";
import { startHarness } from "./support/harness.js";
import { startExternalJob } from "./support/jobs.js";

/** Formats a one-row table and returns the cells of its row. */
function rowCells(row: Row): string[] {
  const table = formatSection({ title: "t", legend: "l", rows: [row], notes: [] });
  return (table.split("\n").at(-1) as string).trim().split(/\s{2,}/);
}

/** Returns the ratio cell of a row of `value` against `reference`. */
function ratioCell(value: number, reference: number, target: Target): string {
  const cells = rowCells({
    label: "case",
    value: { value, unit: "per-second" },
    reference: { value: reference, unit: "per-second" },
    target,
  });
  return cells[3] as string;
}

/** A round that returns the next of `rates` as its results per second. */
function rounds(rates: number[]): () => Promise<Sample> {
  let next = 0;
  return async () => ({ perSecond: rates[next++] as number, cpuUsPerUnit: 1 });
}

describe("bench report", () => {
  it("rounds a ratio below an at-least target down", () => {
    expect(ratioCell(0.69996, 1, ratioAtLeast(0.69996, 1, 0.7))).toBe("0.69x");
  });

  it("rounds a ratio above an at-most target up", () => {
    expect(ratioCell(1.5004, 1, ratioAtMost(1.5004, 1, 1.5))).toBe("1.51x");
  });

  it("keeps a ratio exactly at its target", () => {
    // 0.29 * 100 is 28.999999999999996 in floating point.
    expect(ratioCell(0.29, 1, ratioAtLeast(0.29, 1, 0.29))).toBe("0.29x");
  });

  it("prints the spread of round ratios", () => {
    const cells = rowCells({
      label: "case",
      value: { value: 1, unit: "per-second" },
      reference: { value: 2, unit: "per-second" },
      roundRatios: { low: 0.4, high: 0.625 },
    });

    expect(cells[4]).toBe("0.40-0.63x");
  });
});

describe("bench compare", () => {
  it("spans the ratios of paired rounds", async () => {
    // The first rate of each side is the untimed warm-up round.
    const conductor = rounds([1, 80, 90, 70]);
    const reference = rounds([1, 100, 100, 100]);

    const comparison = await compare(3, conductor, reference);

    expect(comparison.roundRatios).toEqual({ low: 0.7, high: 0.9 });
  });
});

describe("bench client stream", () => {
  const clients: RawClient[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
  });

  it("rejects a write once the server fails the call", async () => {
    const harness = await startHarness({ maxMessageBytes: 1024 });
    const job = await startExternalJob(harness);
    const client = new RawClient(harness.address);
    clients.push(client);
    await client.connect();
    const payloads = [binaryPayload(new Uint8Array(64 * 1024))];
    const message = encodePushStreamRequest(job.ticket, job.lease, payloads);
    const writer = client.clientStream(CONDUCTOR_PATHS.pushStream);
    // Enough writes to fill the transport's buffer, which a failed call never drains.
    const writeAll = async () => {
      for (let i = 0; i < 100; i++) await writer.write(message);
    };

    const written = writeAll();

    await expect(written).rejects.toThrow(/RESOURCE_EXHAUSTED/);
  });
});

describe("bench profile sources", () => {
  it.each([
    ["file:///x/node_modules/@grpc/grpc-js/build/src/server.js", "@grpc/grpc-js"],
    ["file:///x/node_modules/nice-grpc/lib/server/Server.js", "nice-grpc"],
    ["file:///x/dist/benchmarks/src/core/result-log.js", "src/core/result-log.js"],
    ["file:///x/dist/src/core/result-log.js", "src/core/result-log.js"],
    ["node:internal/http2/core", "node:internal/http2/core"],
  ])("groups %s", (url, source) => {
    expect(sourceGroup({ functionName: "f", url })).toBe(source);
  });

  it("keeps the entries of the VM", () => {
    expect(sourceGroup({ functionName: "(garbage collector)", url: "" })).toBe(
      "(garbage collector)",
    );
  });

  it("calls other scriptless frames native", () => {
    expect(sourceGroup({ functionName: "writeBuffer", url: "" })).toBe("native");
  });
});
