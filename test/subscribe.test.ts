import { Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { JobError } from "../src/core/job.js";
import type { SubscribeResponse } from "../src/gen/conductor/v1/conductor_pb.js";
import { startHarness } from "./support/harness.js";
import {
  drain,
  errorInfo,
  numbered,
  numberOf,
  pullCount,
  startExternalJob,
} from "./support/jobs.js";

function sequencesOf(messages: SubscribeResponse[]): bigint[] {
  return messages.flatMap((m) => m.results.map((r) => r.sequence));
}

function range(from: number, to: number): bigint[] {
  return Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));
}

describe("Subscribe", () => {
  it("streams results as they are pushed, then ends with OK", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const stream = drain(harness.client.subscribe({ ticket }));

    for (const payload of numbered(5)) {
      await harness.client.push({ ticket, lease, results: [payload] });
    }
    await harness.server.conductor.finish(ticket, lease);
    const { messages, code } = await stream;

    expect(sequencesOf(messages)).toEqual(range(1, 5));
    expect(code).toBe(Status.OK);
  });

  it("delivers everything to a subscriber that starts after the end", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(50) });
    await harness.server.conductor.finish(ticket, lease);

    const { messages, code } = await drain(harness.client.subscribe({ ticket }));

    expect(sequencesOf(messages)).toEqual(range(1, 50));
    expect(code).toBe(Status.OK);
  });

  it("batches a backlog into few messages", async () => {
    const harness = await startHarness({ maxData: 1000 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(1000) });
    await harness.server.conductor.finish(ticket, lease);

    const { messages } = await drain(harness.client.subscribe({ ticket }));

    expect(sequencesOf(messages)).toEqual(range(1, 1000));
    expect(messages.length).toBeLessThanOrEqual(4);
  });

  it("delivers results before the job's error and code", async () => {
    const harness = await startHarness();
    harness.server.conductor.register("fails", {
      run: async (_input, context) => {
        await context.push(...numbered(3));
        throw new JobError(Status.PERMISSION_DENIED, "disk says no");
      },
    });
    const { ticket } = await harness.client.exec({ kind: "fails" });

    const { messages, code, error } = await drain(harness.client.subscribe({ ticket }));

    expect(sequencesOf(messages)).toEqual(range(1, 3));
    expect(code).toBe(Status.PERMISSION_DENIED);
    expect(error?.details).toBe("disk says no");
    expect(errorInfo(error!)?.reason).toBe("JOB_FAILED");
  });

  it("ends with UNKNOWN when the work throws a plain error", async () => {
    const harness = await startHarness();
    harness.server.conductor.register("throws", {
      run: async () => {
        throw new Error("boom");
      },
    });
    const { ticket } = await harness.client.exec({ kind: "throws" });

    const { code, error } = await drain(harness.client.subscribe({ ticket }));

    expect(code).toBe(Status.UNKNOWN);
    expect(error?.details).toBe("boom");
  });

  it("resumes after a broken stream without gap or duplicate", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(10) });
    const received: bigint[] = [];
    const controller = new AbortController();
    const first = harness.client.subscribe({ ticket }, { signal: controller.signal });
    await drain(
      (async function* () {
        for await (const message of first) {
          received.push(...message.results.map((r) => r.sequence));
          controller.abort();
        }
      })(),
    ).catch(() => {});
    await harness.client.push({ ticket, lease, results: numbered(5, 11) });
    await harness.server.conductor.finish(ticket, lease);

    const last = received.at(-1) ?? 0n;
    const { messages, code } = await drain(
      harness.client.subscribe({ ticket, afterSequence: last }),
    );

    expect([...received, ...sequencesOf(messages)]).toEqual(range(1, 15));
    expect(code).toBe(Status.OK);
  });

  it("replays retained results after a given sequence", async () => {
    const harness = await startHarness({ maxData: 100 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(10) });
    await harness.client.pull({ ticket, maxResults: 8 });
    await harness.server.conductor.finish(ticket, lease);

    const { messages } = await drain(
      harness.client.subscribe({ ticket, afterSequence: 3n }),
    );

    expect(sequencesOf(messages)).toEqual(range(4, 10));
  });

  it("fails with DATA_LOSS naming the first retained sequence", async () => {
    const harness = await startHarness({ maxData: 2, retainBytes: 0 });
    const { ticket, lease } = await startExternalJob(harness);
    const pushing = harness.client.push({ ticket, lease, results: numbered(6) });
    await pullCount(harness.client, ticket, 6);
    await pushing;

    const { code, error } = await drain(
      harness.client.subscribe({ ticket, afterSequence: 1n }),
    );

    expect(code).toBe(Status.DATA_LOSS);
    expect(errorInfo(error!)?.reason).toBe("RESULTS_NOT_RETAINED");
    expect(errorInfo(error!)?.metadata.first_available_sequence).toBe("5");
  });

  it("rejects after_sequence past the last delivered result", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(3) });

    const { code, error } = await drain(
      harness.client.subscribe({ ticket, afterSequence: 2n }),
    );

    expect(code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error!)?.metadata.field).toBe("after_sequence");
  });

  it("carries progress reported between results", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const stream = drain(harness.client.subscribe({ ticket }));

    await harness.client.push({ ticket, lease, progress: { done: 1n, total: 4n } });
    await harness.client.push({ ticket, lease, results: numbered(1) });
    await harness.server.conductor.finish(ticket, lease);
    const { messages } = await stream;

    const progress = messages.flatMap((m) => (m.progress ? [m.progress] : []));
    expect(progress.map((p) => [p.done, p.total])).toEqual([[1n, 4n]]);
    expect(sequencesOf(messages)).toEqual([1n]);
  });

  it("leaves no waiting reader behind when the client goes away", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const controller = new AbortController();
    const stream = drain(
      harness.client.subscribe({ ticket }, { signal: controller.signal }),
    ).catch(() => undefined);
    await harness.client.push({ ticket, lease, results: numbered(1) });
    await expect
      .poll(() => harness.server.conductor.store.status(ticket))
      .toMatchObject({
        deliveredCount: 1n,
      });

    controller.abort();
    await stream;

    await expect.poll(() => harness.server.store.waitingReadCount).toBe(0);
    const { results } = await harness.client.pull({ ticket, wait: { seconds: 0n } });
    expect(results).toEqual([]);
    await harness.client.push({ ticket, lease, results: numbered(1, 2) });
    const next = await harness.client.pull({ ticket });
    expect(next.results.map((r) => numberOf(r.payload))).toEqual([2]);
  });

  it("keeps small delivered results within the byte budget", async () => {
    const harness = await startHarness({ maxData: 2 });
    const { ticket, lease } = await startExternalJob(harness);
    const pushing = harness.client.push({ ticket, lease, results: numbered(6) });
    await pullCount(harness.client, ticket, 6);
    await pushing;
    await harness.server.conductor.finish(ticket, lease);

    const { messages, code } = await drain(
      harness.client.subscribe({ ticket, afterSequence: 0n }),
    );

    expect(sequencesOf(messages)).toEqual(range(1, 6));
    expect(code).toBe(Status.OK);
  });

  it("ends with a cut message when the job's error is huge", async () => {
    const harness = await startHarness();
    harness.server.conductor.register("verbose", {
      run: async () => {
        throw new Error("x".repeat(100_000));
      },
    });
    const { ticket } = await harness.client.exec({ kind: "verbose" });

    const { code, error } = await drain(harness.client.subscribe({ ticket }));
    const { status } = await harness.client.getStatus({ ticket });

    expect(code).toBe(Status.UNKNOWN);
    expect(error?.details.length).toBeLessThanOrEqual(1024);
    expect(status?.error?.message.length).toBeLessThanOrEqual(1024);
  });
});
