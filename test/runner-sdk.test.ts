import { ClientError, Status } from "nice-grpc";
import { describe, expect, it, vi } from "vitest";
import {
  binaryPayload,
  connectRunner,
  type JobContext,
  JobError,
  type JobHandler,
  PushAfterEndError,
  textPayload,
} from "../clients/ts/src/index.js";
import { JobState } from "../src/gen/conductor/v1/payload_pb.js";
import { runnerClient, startRunner } from "./runner-support.js";
import { type Harness, startHarness } from "./support/harness.js";
import { drain, numbered, numberOf } from "./support/jobs.js";
import { sampleValue, scrape } from "./support/metrics.js";

/** Results and final status code of a ticket, read with Subscribe. */
async function consume(harness: Harness, ticket: bigint) {
  const consumed = await drain(harness.client.subscribe({ ticket }));
  const results = consumed.messages.flatMap((message) => message.results);
  return { ...consumed, results };
}

/** Starts a runner whose `remote` kind runs `handler` and starts one job of it. */
async function execRemote(harness: Harness, handler: JobHandler): Promise<bigint> {
  await startRunner(harness, { kinds: { remote: handler } });
  const { ticket } = await harness.client.exec({ kind: "remote" });
  return ticket;
}

/** A promise and the function that resolves it. */
function deferred<T = void>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("runner SDK jobs", () => {
  it("delivers a handler's results, then OK", async () => {
    const harness = await startHarness();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          await context.push(...numbered(3));
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const consumed = await consume(harness, ticket);
    expect(consumed.results.map((r) => numberOf(r.payload))).toEqual([1, 2, 3]);
    expect(consumed.code).toBe(Status.OK);
  });

  it("passes the input and ticket to the handler", async () => {
    const harness = await startHarness();
    const seen = deferred<{ input: unknown; ticket: bigint; attempt: number }>();
    await startRunner(harness, {
      kinds: {
        remote: async (input, { ticket, attempt }) =>
          seen.resolve({ input, ticket, attempt }),
      },
    });
    const input = textPayload("hello");
    const { ticket } = await harness.client.exec({ kind: "remote", input });
    expect(await seen.promise).toEqual({ input, ticket, attempt: 1 });
  });

  it("ends the job with a JobError's code and message", async () => {
    const harness = await startHarness();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          await context.push(...numbered(1));
          throw new JobError(Status.NOT_FOUND, "input file is gone");
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const consumed = await consume(harness, ticket);
    expect(consumed.results).toHaveLength(1);
    expect(consumed.code).toBe(Status.NOT_FOUND);
    expect(consumed.error?.details).toBe("input file is gone");
  });

  it("ends the job with UNKNOWN for other errors", async () => {
    const harness = await startHarness();
    await startRunner(harness, {
      kinds: {
        remote: async () => {
          throw new Error("disk on fire");
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const consumed = await consume(harness, ticket);
    expect(consumed.code).toBe(Status.UNKNOWN);
    expect(consumed.error?.details).toBe("disk on fire");
  });

  it("stores results pushed without await before finishing", async () => {
    const harness = await startHarness();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          // Enough pushes for the SDK to compact its queue of unsent ones.
          for (const payload of numbered(3000)) void context.push(payload);
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const consumed = await consume(harness, ticket);
    const numbers = consumed.results.map((r) => numberOf(r.payload));
    expect(numbers).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(consumed.code).toBe(Status.OK);
  });

  it("splits pushes to the message limit", async () => {
    const harness = await startHarness({ maxMessageBytes: 256 * 1024 });
    const ticket = await execRemote(harness, async (_, context) => {
      // 600 KB in all: one message of them would be rejected.
      for (let i = 0; i < 300; i++) {
        void context.push(binaryPayload(new Uint8Array(2_000).fill(i % 256)));
      }
    });

    const consumed = await consume(harness, ticket);

    expect(consumed.results).toHaveLength(300);
    expect(consumed.code).toBe(Status.OK);
  });

  it("ends job with rejected push's code", async () => {
    const harness = await startHarness({ maxMessageBytes: 64 * 1024 });
    const ticket = await execRemote(harness, async (_, context) => {
      // Not awaited, so the handler itself does not fail.
      void context.push(binaryPayload(new Uint8Array(100_000)));
    });

    const consumed = await consume(harness, ticket);

    expect(consumed.code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("stores results before an oversized one", async () => {
    const harness = await startHarness({ maxMessageBytes: 1024, maxData: 20 });
    const ticket = await execRemote(harness, async (_, context) => {
      for (let i = 0; i < 300; i++) {
        void context.push(textPayload(i === 60 ? "x".repeat(3_000) : `r${i}`));
      }
    });
    await vi.waitFor(async () => {
      const { status } = await harness.client.getStatus({ ticket });
      expect(status?.bufferedCount).toBe(20n);
    });

    const consumed = await consume(harness, ticket);

    expect(consumed.results).toHaveLength(60);
    expect(consumed.code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("frees cancelled slot after handler returns", async () => {
    // Far longer than the test, so that only the runner's Finish frees the slot.
    const harness = await startHarness({ runnerTimeoutMs: 60_000 });
    const stop = deferred();
    const events: string[] = [];
    await startRunner(harness, {
      concurrency: 1,
      kinds: {
        remote: async (input) => {
          const name = input.data.case === "text" ? input.data.value : "";
          events.push(`${name} started`);
          // The first job ignores its abort signal until the test stops it.
          if (name === "first") await stop.promise;
          events.push(`${name} returned`);
        },
      },
    });
    const { ticket: first } = await harness.client.exec({
      kind: "remote",
      input: textPayload("first"),
    });
    await vi.waitFor(() => expect(events).toContain("first started"));
    await harness.client.cancel({ ticket: first });
    const { ticket: second } = await harness.client.exec({
      kind: "remote",
      input: textPayload("second"),
    });
    // Long enough for the second job to start if the slot were free.
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop.resolve();

    await consume(harness, second);

    expect(events).toEqual([
      "first started",
      "first returned",
      "second started",
      "second returned",
    ]);
  });

  it("reports progress to subscribers", async () => {
    const harness = await startHarness();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          await context.push(...numbered(1));
          await context.progress(1, 4);
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await consume(harness, ticket);
    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.progress).toMatchObject({ done: 1n, total: 4n });
  });
});

describe("runner SDK cancel", () => {
  it("aborts the handler's signal and rejects later pushes", async () => {
    const harness = await startHarness();
    const started = deferred<JobContext>();
    const aborted = deferred<unknown>();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          await context.push(...numbered(1));
          started.resolve(context);
          await new Promise((resolve) =>
            context.signal.addEventListener("abort", resolve),
          );
          aborted.resolve(context.signal.reason);
          await context.push(...numbered(1, 2));
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const context = await started.promise;
    await harness.client.cancel({ ticket });

    expect(await aborted.promise).toMatchObject({ name: "AbortError" });
    const error = await context.push(...numbered(1, 3)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(Status.FAILED_PRECONDITION);
    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.state).toBe(JobState.CANCELLED);
    expect(status?.pushedCount).toBe(1n);
  });
});

describe("runner SDK pushes", () => {
  it("sends a job's pushes on one PushPipeline stream", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          for (const payload of numbered(3)) await context.push(payload);
          await context.push(...numbered(300, 4));
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await consume(harness, ticket);

    const samples = await scrape(harness);
    const started = (method: string) =>
      sampleValue(samples, "grpc_server_started_total", { grpc_method: method });
    expect(started("PushPipeline")).toBe(1);
    expect(samples.some((s) => s.labels.grpc_method === "Push")).toBe(false);
  });

  it("rejects a push made after the job ended", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });
    const job = deferred<JobContext>();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          await context.push(...numbered(1));
          job.resolve(context);
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const context = await job.promise;
    await consume(harness, ticket);

    const error = await context.push(...numbered(1, 2)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PushAfterEndError);
    const samples = await scrape(harness);
    const handled = sampleValue(samples, "grpc_server_handled_total", {
      grpc_method: "PushPipeline",
    });
    expect(handled).toBe(1);
  });

  it("ends a job on failed unawaited pushes", async () => {
    const harness = await startHarness({ maxData: 1 });
    const started = deferred();
    const aborted = deferred();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          for (const payload of numbered(5)) void context.push(payload);
          void context.progress(1, 5);
          started.resolve();
          await new Promise((resolve) =>
            context.signal.addEventListener("abort", resolve),
          );
          aborted.resolve();
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await started.promise;

    await harness.client.cancel({ ticket });

    await aborted.promise;
    // Node reports an unhandled rejection after the microtasks of the
    // turn that rejected, and vitest then fails the run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.state).toBe(JobState.CANCELLED);
  });
});

describe("runner SDK backpressure", () => {
  it("makes the fifth push wait until a result is read", async () => {
    const harness = await startHarness({ maxData: 4 });
    const pushed: number[] = [];
    const fifthStarted = deferred();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          for (const payload of numbered(5)) {
            if (numberOf(payload) === 5) fifthStarted.resolve();
            await context.push(payload);
            pushed.push(numberOf(payload));
          }
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await fifthStarted.promise;
    // Each status read is a round trip, which a push that did not wait
    // would have finished within.
    for (let i = 0; i < 3; i++) {
      const { status } = await harness.client.getStatus({ ticket });
      expect(status?.pushedCount).toBe(4n);
    }
    expect(pushed).toEqual([1, 2, 3, 4]);

    const read = await harness.client.pull({ ticket, maxResults: 1 });
    expect(read.results.map((r) => r.sequence)).toEqual([1n]);
    await vi.waitFor(() => expect(pushed).toEqual([1, 2, 3, 4, 5]));
    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.pushedCount).toBe(5n);
  });
});

describe("runner SDK lifecycle", () => {
  it("drains: finishes held jobs, takes no new ones, closes", async () => {
    const harness = await startHarness();
    const started = deferred();
    const release = deferred();
    const runner = await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          started.resolve();
          await release.promise;
          await context.push(...numbered(1));
        },
      },
    });
    const { ticket: held } = await harness.client.exec({ kind: "remote" });
    await started.promise;
    const drained = runner.drain();
    await vi.waitFor(async () => {
      const { runners } = await runnerClient(harness).listRunners({});
      expect(runners[0]?.draining).toBe(true);
    });
    const { ticket: later } = await harness.client.exec({ kind: "remote" });

    release.resolve();
    await drained;
    const heldStatus = await harness.client.getStatus({ ticket: held });
    expect(heldStatus.status?.state).toBe(JobState.SUCCEEDED);
    const laterStatus = await harness.client.getStatus({ ticket: later });
    expect(laterStatus.status?.state).toBe(JobState.QUEUED);
    const { runners } = await runnerClient(harness).listRunners({});
    expect(runners).toEqual([]);
  });

  it("keeps a runner alive with heartbeats", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 150, queueTimeoutMs: 600 });
    const started = deferred();
    await startRunner(harness, {
      kinds: {
        remote: async (_, context) => {
          started.resolve();
          await new Promise((resolve) =>
            context.signal.addEventListener("abort", resolve),
          );
        },
      },
    });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await started.promise;

    // A job of a kind no runner serves fails after queueTimeoutMs, four
    // runner timeouts later: that is the clock of this test.
    const { ticket: clock } = await harness.client.exec({ kind: "unserved" });
    expect((await consume(harness, clock)).code).toBe(Status.UNAVAILABLE);

    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.state).toBe(JobState.RUNNING);
    const { runners } = await runnerClient(harness).listRunners({});
    expect(runners).toHaveLength(1);
  });

  it("reconnects when the server comes back", async () => {
    const first = await startHarness();
    const runner = await startRunner(first, {
      reconnectDelayMs: 20,
      maxReconnectDelayMs: 200,
      kinds: { remote: async () => {} },
    });
    const firstId = runner.id;
    await first.server.close();

    const second = await startHarness({ address: first.address });
    await vi.waitFor(
      async () => {
        const { runners } = await runnerClient(second).listRunners({});
        expect(runners).toHaveLength(1);
      },
      { timeout: 10_000 },
    );
    expect(runner.id).not.toBe(firstId);
    const { ticket } = await second.client.exec({ kind: "remote" });
    expect((await consume(second, ticket)).code).toBe(Status.OK);
  });

  it("stops when the server rejects the registration", async () => {
    const harness = await startHarness();
    const runner = connectRunner({
      address: harness.address,
      kinds: { digest: async () => {} },
    });
    const error = await runner.closed.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(Status.INVALID_ARGUMENT);
    await expect(runner.registered).rejects.toThrow("before it registered");
  });
});
