import { Status } from "nice-grpc";
import { describe, expect, it, vi } from "vitest";
import { binaryPayload } from "../src/core/payloads.js";
import { JobState } from "../src/gen/conductor/v1/payload_pb.js";
import { startHarness } from "./support/harness.js";
import {
  errorInfo,
  grpcError,
  numbered,
  numberOf,
  startExternalJob,
} from "./support/jobs.js";

describe("Pull", () => {
  it("returns 20 pushed results in order as 20 pulls", async () => {
    const harness = await startHarness();
    const { client } = harness;
    const { ticket, lease } = await startExternalJob(harness);
    for (const payload of numbered(20)) {
      await client.push({ ticket, lease, results: [payload] });
    }

    const pulled = [];
    for (let i = 0; i < 20; i++) {
      const { results } = await client.pull({ ticket });
      pulled.push(...results);
    }

    expect(pulled.map((r) => r.sequence)).toEqual(
      Array.from({ length: 20 }, (_, i) => BigInt(i + 1)),
    );
    expect(pulled.map((r) => numberOf(r.payload))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it("returns a batch of up to max_results", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(10) });

    const { results } = await harness.client.pull({ ticket, maxResults: 7 });

    expect(results.map((r) => r.sequence)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
  });

  it("answers an empty finished job with OUT_OF_RANGE at once", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease);

    const error = await grpcError(harness.client.pull({ ticket }));

    expect(error.code).toBe(Status.OUT_OF_RANGE);
    expect(errorInfo(error)?.reason).toBe("NO_DATA_LEFT");
  });

  it("returns nothing and RUNNING when the wait ends first", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);

    const response = await harness.client.pull({
      ticket,
      wait: { nanos: 50_000_000 },
    });

    expect(response.results).toEqual([]);
    expect(response.state).toBe(JobState.RUNNING);
  });

  it("returns a result pushed during the wait", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);

    const pull = harness.client.pull({ ticket, wait: { seconds: 30n } });
    await harness.client.push({ ticket, lease, results: numbered(1) });
    const { results } = await pull;

    expect(results.map((r) => r.sequence)).toEqual([1n]);
  });

  it("ends a waiting pull when the job finishes", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);

    const pull = grpcError(harness.client.pull({ ticket, wait: { seconds: 30n } }));
    await harness.server.conductor.finish(ticket, lease);

    expect((await pull).code).toBe(Status.OUT_OF_RANGE);
  });

  it("stops waiting when the client cancels", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);
    const controller = new AbortController();
    const pull = harness.client
      .pull({ ticket, wait: { seconds: 30n } }, { signal: controller.signal })
      .catch(() => undefined);
    await vi.waitFor(() => {
      expect(harness.server.store.waitingReadCount).toBe(1);
    });

    controller.abort();
    await pull;

    await vi.waitFor(() => {
      expect(harness.server.store.waitingReadCount).toBe(0);
    });
  });

  it("delivers buffered results before OUT_OF_RANGE", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(2) });
    await harness.server.conductor.finish(ticket, lease);

    const first = await harness.client.pull({ ticket, maxResults: 10 });
    const end = await grpcError(harness.client.pull({ ticket }));

    expect(first.results).toHaveLength(2);
    expect(first.state).toBe(JobState.SUCCEEDED);
    expect(end.code).toBe(Status.OUT_OF_RANGE);
  });

  it("shares results between two consumers without duplicates", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(10) });

    const [a, b] = await Promise.all([
      harness.client.pull({ ticket, maxResults: 5 }),
      harness.client.pull({ ticket, maxResults: 5 }),
    ]);

    const sequences = [...a.results, ...b.results].map((r) => r.sequence);
    expect(sequences.sort((x, y) => Number(x - y))).toEqual(
      Array.from({ length: 10 }, (_, i) => BigInt(i + 1)),
    );
  });

  it("stops a response at about 1 MiB of payload", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    for (let i = 0; i < 3; i++) {
      const results = [binaryPayload(new Uint8Array(600 * 1024))];
      await harness.client.push({ ticket, lease, results });
    }

    const first = await harness.client.pull({ ticket, maxResults: 10 });
    const { status } = await harness.client.getStatus({ ticket });

    expect(first.results.map((r) => r.sequence)).toEqual([1n]);
    expect(status?.deliveredCount).toBe(1n);
  });

  it("gives one new result to one of two waiting pulls", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const pulls = [1, 2].map(() =>
      harness.client.pull({ ticket, wait: { nanos: 300_000_000 } }),
    );
    await expect.poll(() => harness.server.store.waitingReadCount).toBe(2);

    await harness.client.push({ ticket, lease, results: numbered(1) });
    const responses = await Promise.all(pulls);

    const counts = responses.map((r) => r.results.length).sort();
    expect(counts).toEqual([0, 1]);
  });

  describe("after_sequence", () => {
    it("returns a lost response's results again", async () => {
      const harness = await startHarness();
      const { ticket, lease } = await startExternalJob(harness);
      await harness.client.push({ ticket, lease, results: numbered(10) });
      await harness.client.pull({ ticket, maxResults: 4 });

      const again = await harness.client.pull({
        ticket,
        afterSequence: 0n,
        maxResults: 10,
      });

      expect(again.results.map((r) => r.sequence)).toEqual([1n, 2n, 3n, 4n]);
    });

    it("leaves the delivery cursor where it was", async () => {
      const harness = await startHarness();
      const { ticket, lease } = await startExternalJob(harness);
      await harness.client.push({ ticket, lease, results: numbered(10) });
      await harness.client.pull({ ticket, maxResults: 4 });
      await harness.client.pull({ ticket, afterSequence: 2n, maxResults: 10 });

      const next = await harness.client.pull({
        ticket,
        afterSequence: 4n,
        maxResults: 2,
      });

      expect(next.results.map((r) => r.sequence)).toEqual([5n, 6n]);
    });

    it("fails with DATA_LOSS once the results are gone", async () => {
      const harness = await startHarness({ maxData: 2, retainBytes: 0 });
      const { ticket, lease } = await startExternalJob(harness);
      await harness.client.push({ ticket, lease, results: numbered(2) });
      await harness.client.pull({ ticket, maxResults: 2 });
      await harness.client.push({ ticket, lease, results: numbered(2, 3) });
      await harness.client.pull({ ticket, maxResults: 2 });

      const error = await grpcError(harness.client.pull({ ticket, afterSequence: 0n }));

      expect(error.code).toBe(Status.DATA_LOSS);
      expect(errorInfo(error)?.metadata.first_available_sequence).toBe("3");
    });

    it("rejects a sequence past the last delivered result", async () => {
      const harness = await startHarness();
      const { ticket, lease } = await startExternalJob(harness);
      await harness.client.push({ ticket, lease, results: numbered(3) });

      const error = await grpcError(harness.client.pull({ ticket, afterSequence: 1n }));

      expect(error.code).toBe(Status.INVALID_ARGUMENT);
      expect(errorInfo(error)?.metadata.field).toBe("after_sequence");
    });
  });
});
