import { Status } from "nice-grpc";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { JobContext } from "../clients/ts/src/index.js";
import type { ConnectResponse } from "../src/gen/conductor/v1/runner_pb.js";
import { RunnerConnection } from "../src/runner/runner-connection.js";
import { startStallingProxy } from "./runner-proxy.js";
import {
  nextAssignment,
  rawRunner,
  register,
  runnerClient,
  startRunner,
} from "./runner-support.js";
import { startHarness } from "./support/harness.js";
import { drain } from "./support/jobs.js";

const HEARTBEAT = { message: { case: "heartbeat", value: {} } } as const;

/** A promise and the function that resolves it. */
function deferred<T = void>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("server heartbeats", () => {
  it("arrive on the Connect stream after Registered", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 600 });
    const runner = rawRunner(harness, register(["remote"]));
    const cases: ConnectResponse["message"]["case"][] = [];
    cases.push((await runner.next()).case);
    for (let i = 0; i < 2; i++) {
      runner.send(HEARTBEAT);
      cases.push((await runner.next()).case);
    }
    expect(cases).toEqual(["registered", "heartbeat", "heartbeat"]);
  });

  describe("while responses wait to be sent", () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it("are skipped", async () => {
      vi.useFakeTimers();
      const runner = new RunnerConnection("id", 1, {
        kinds: ["remote"],
        concurrency: 1,
        name: "unread",
      });
      runner.sendRegistered(100, 0);
      vi.advanceTimersByTime(1_000);
      expect(runner.outbox.size).toBe(1);

      const responses = runner.outbox[Symbol.asyncIterator]();
      expect((await responses.next()).value?.message.case).toBe("registered");
      vi.advanceTimersByTime(100);
      expect((await responses.next()).value?.message.case).toBe("heartbeat");
      runner.close();
      vi.advanceTimersByTime(1_000);
      expect(runner.outbox.size).toBe(0);
    });
  });
});

describe("runner loss reasons", () => {
  it("say that the runner closed its stream", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["remote"], 1, "closer"));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await nextAssignment(runner);

    runner.close();
    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: runner "closer" closed its stream',
    );
  });

  it("say that the runner's call broke", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["remote"], 1, "breaker"));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await nextAssignment(runner);

    runner.cancel();
    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: the call of runner "breaker" was cancelled or its connection broke',
    );
  });

  it("say that no heartbeat arrived in time", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 300 });
    const runner = rawRunner(harness, register(["remote"], 1, "mute"));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await nextAssignment(runner);

    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: no heartbeat or other message from runner "mute" within 300 ms',
    );
  });
});

describe("runner SDK on a stalled connection", () => {
  it("aborts its jobs and reconnects", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 300 });
    const proxy = await startStallingProxy(harness.address);
    const started = deferred<JobContext>();
    const aborted = deferred<unknown>();
    const errors: unknown[] = [];
    const runner = await startRunner(
      harness,
      {
        name: "stalled",
        reconnectDelayMs: 10,
        maxReconnectDelayMs: 100,
        onError: (error) => errors.push(error),
        kinds: {
          hold: async (_, context) => {
            started.resolve(context);
            await new Promise((resolve) =>
              context.signal.addEventListener("abort", resolve),
            );
            aborted.resolve(context.signal.reason);
          },
        },
      },
      proxy.address,
    );
    const firstId = runner.id;
    const { ticket } = await harness.client.exec({ kind: "hold" });
    await started.promise;

    proxy.stall();
    const reason = await aborted.promise;
    await vi.waitFor(
      async () => {
        const { runners } = await runnerClient(harness).listRunners({});
        expect(runners.map((r) => r.runnerId)).toEqual([runner.id]);
      },
      { timeout: 10_000 },
    );
    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe("AbortError");
    expect((reason as DOMException).message).toBe(
      "connection to the server lost: no message from the server within 300 ms (3 heartbeat intervals)",
    );
    expect(String(errors[0])).toContain("no message from the server within 300 ms");
    expect(runner.id).not.toBe(firstId);
    expect(proxy.connectionCount).toBe(2);
    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: no heartbeat or other message from runner "stalled" within 300 ms',
    );
  });
});
