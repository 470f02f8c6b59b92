import { Status } from "nice-grpc";
import { describe, expect, it, vi } from "vitest";
import type { JobContext } from "../clients/ts/src/index.js";
import { JobState } from "../src/gen/conductor/v1/payload_pb.js";
import {
  nextAssignment,
  rawRunner,
  register,
  runnerClient,
  startRunner,
} from "./runner-support.js";
import { type Harness, startHarness } from "./support/harness.js";
import { drain, errorInfo, grpcError } from "./support/jobs.js";

describe("runner job queue", () => {
  it("starts a queued job when a runner connects", async () => {
    const harness = await startHarness();
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const queued = await harness.client.getStatus({ ticket });
    expect(queued.status?.state).toBe(JobState.QUEUED);

    const runner = rawRunner(harness, register(["remote"]));
    const assignment = await nextAssignment(runner);
    expect(assignment.ticket).toBe(ticket);
    const running = await harness.client.getStatus({ ticket });
    expect(running.status?.state).toBe(JobState.RUNNING);
  });

  it("fails a job no runner takes within queueTimeoutMs", async () => {
    const harness = await startHarness({ queueTimeoutMs: 100 });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const consumed = await drain(harness.client.subscribe({ ticket }));
    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toContain('kind "remote"');
  });

  it("counts no attempt for a job that timed out in the queue", async () => {
    const harness = await startHarness({ queueTimeoutMs: 100 });
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await drain(harness.client.subscribe({ ticket }));

    const { status } = await harness.client.getStatus({ ticket });

    expect(status?.attempt).toBe(0);
    expect(status?.startTime).toBeUndefined();
  });

  it("rejects Exec with RESOURCE_EXHAUSTED when the queue is full", async () => {
    const harness = await startHarness({ maxQueuedJobs: 2 });
    await harness.client.exec({ kind: "remote" });
    await harness.client.exec({ kind: "other" });
    const error = await grpcError(harness.client.exec({ kind: "remote" }));
    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
  });

  it("accepts Exec with a full queue when a runner is free", async () => {
    const harness = await startHarness({ maxQueuedJobs: 1 });
    await harness.client.exec({ kind: "waiting" });
    const runner = rawRunner(harness, register(["remote"]));
    await runner.next();
    const { ticket } = await harness.client.exec({ kind: "remote" });
    expect((await nextAssignment(runner)).ticket).toBe(ticket);
  });

  it("removes a cancelled job from the queue", async () => {
    const harness = await startHarness({ maxQueuedJobs: 1 });
    const { ticket: cancelled } = await harness.client.exec({ kind: "remote" });
    await harness.client.cancel({ ticket: cancelled });
    const { ticket: kept } = await harness.client.exec({ kind: "remote" });

    const runner = rawRunner(harness, register(["remote"]));
    expect((await nextAssignment(runner)).ticket).toBe(kept);
  });

  it("rejects a kind outside runnerKinds at once", async () => {
    const harness = await startHarness({ runnerKinds: ["listed"] });
    const error = await grpcError(harness.client.exec({ kind: "unlisted" }));
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.reason).toBe("UNKNOWN_KIND");

    const { ticket } = await harness.client.exec({ kind: "listed" });
    const status = await harness.client.getStatus({ ticket });
    expect(status.status?.state).toBe(JobState.QUEUED);
  });

  it("assigns the oldest job over all kinds a runner serves", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["a", "b"], 1));
    const { ticket: first } = await harness.client.exec({ kind: "a" });
    const { lease } = await nextAssignment(runner);
    const { ticket: older } = await harness.client.exec({ kind: "b" });
    await harness.client.exec({ kind: "a" });

    await runnerClient(harness).finish({ ticket: first, lease });
    expect((await nextAssignment(runner)).ticket).toBe(older);
  });
});

describe("runner job queue limit", () => {
  it("holds under concurrent Execs", async () => {
    const harness = await startHarness({ maxQueuedJobs: 3 });

    const outcomes = await concurrentExecs(harness, 40);

    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(3);
    expect(rejectionCodes(outcomes)).toEqual(Array(37).fill(Status.RESOURCE_EXHAUSTED));
    const queued = await harness.client.listTickets({ state: JobState.QUEUED });
    expect(queued.tickets).toHaveLength(3);
  });

  it("counts each free runner slot once under concurrent Execs", async () => {
    const harness = await startHarness({ maxQueuedJobs: 2 });
    await rawRunner(harness, register(["remote"], 2)).next();

    const outcomes = await concurrentExecs(harness, 30);

    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(4);
    expect(rejectionCodes(outcomes)).toEqual(Array(26).fill(Status.RESOURCE_EXHAUSTED));
    const queued = await harness.client.listTickets({ state: JobState.QUEUED });
    expect(queued.tickets).toHaveLength(2);
    const running = await harness.client.listTickets({ state: JobState.RUNNING });
    expect(running.tickets).toHaveLength(2);
  });

  it("requeues a lost runner's jobs past a full queue", async () => {
    const harness = await startHarness({ maxQueuedJobs: 1 });
    const lost = rawRunner(harness, register(["remote"], 2));
    await lost.next();
    const lostJobs = [
      (await harness.client.exec({ kind: "remote", maxRetries: 1 })).ticket,
      (await harness.client.exec({ kind: "remote", maxRetries: 1 })).ticket,
    ];
    await nextAssignment(lost);
    await nextAssignment(lost);
    const { ticket: waiting } = await harness.client.exec({ kind: "remote" });

    lost.cancel();
    await vi.waitFor(async () => {
      const queued = await harness.client.listTickets({ state: JobState.QUEUED });
      expect(queued.tickets).toHaveLength(3);
    });
    const rejected = await grpcError(harness.client.exec({ kind: "remote" }));
    const runner = rawRunner(harness, register(["remote"], 3));
    const assigned = [
      (await nextAssignment(runner)).ticket,
      (await nextAssignment(runner)).ticket,
      (await nextAssignment(runner)).ticket,
    ];

    expect(rejected.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(assigned).toEqual([...lostJobs, waiting]);
  });

  it("frees the reserved slot when the ticket cannot be created", async () => {
    const harness = await startHarness({ maxQueuedJobs: 1 });
    vi.spyOn(harness.server.store, "create").mockRejectedValueOnce(
      new Error("store is down"),
    );

    const failed = await grpcError(harness.client.exec({ kind: "remote" }));
    const { ticket } = await harness.client.exec({ kind: "remote" });

    expect(failed.code).not.toBe(Status.RESOURCE_EXHAUSTED);
    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.state).toBe(JobState.QUEUED);
  });
});

/**
 * Sends `count` Execs of kind "remote" at once and settles them. Ticket
 * creation waits until every Exec has reached the store or been rejected,
 * as with a store whose writes take longer than admission, so all of them
 * are admitted while none is queued yet.
 */
async function concurrentExecs(harness: Harness, count: number) {
  const store = harness.server.store;
  const create = store.create.bind(store);
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let reached = 0;
  vi.spyOn(store, "create").mockImplementation(async (spec) => {
    reached += 1;
    await gate;
    return create(spec);
  });
  let rejected = 0;
  const outcomes = Promise.allSettled(
    Array.from({ length: count }, () =>
      harness.client.exec({ kind: "remote" }).catch((error: unknown) => {
        rejected += 1;
        throw error;
      }),
    ),
  );
  await vi.waitFor(() => expect(reached + rejected).toBe(count));
  release();
  return outcomes;
}

/** Returns the gRPC status codes of the rejected outcomes, in order. */
function rejectionCodes(outcomes: PromiseSettledResult<unknown>[]): number[] {
  return outcomes.flatMap((outcome) =>
    outcome.status === "rejected" ? [(outcome.reason as { code: number }).code] : [],
  );
}

describe("runner concurrency", () => {
  it("keeps each runner within its concurrency and uses both", async () => {
    const harness = await startHarness();
    const gates: (() => void)[] = [];
    let open = false;
    const active = { a: 0, b: 0 };
    const maxActive = { a: 0, b: 0 };
    const done = { a: 0, b: 0 };
    const handler = (name: "a" | "b") => async (_: unknown, context: JobContext) => {
      active[name] += 1;
      maxActive[name] = Math.max(maxActive[name], active[name]);
      if (!open) await new Promise<void>((resolve) => gates.push(resolve));
      await context.push();
      active[name] -= 1;
      done[name] += 1;
    };
    await startRunner(harness, {
      name: "a",
      concurrency: 2,
      kinds: { work: handler("a") },
    });
    await startRunner(harness, {
      name: "b",
      concurrency: 2,
      kinds: { work: handler("b") },
    });

    const tickets: bigint[] = [];
    for (let i = 0; i < 12; i++) {
      tickets.push((await harness.client.exec({ kind: "work" })).ticket);
    }
    await vi.waitFor(() => expect(gates).toHaveLength(4));
    const { runners } = await runnerClient(harness).listRunners({});
    expect(runners.map((r) => r.activeJobs)).toEqual([2, 2]);
    const queued = await harness.client.listTickets({ state: JobState.QUEUED });
    expect(queued.tickets).toHaveLength(8);

    open = true;
    for (const release of gates) release();
    for (const ticket of tickets) {
      expect((await drain(harness.client.subscribe({ ticket }))).code).toBe(Status.OK);
    }
    expect(maxActive).toEqual({ a: 2, b: 2 });
    expect(done.a + done.b).toBe(12);
    expect(done.a).toBeGreaterThan(0);
    expect(done.b).toBeGreaterThan(0);
  });
});
