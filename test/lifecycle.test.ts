import { Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { binaryPayload } from "../src/core/payloads.js";
import { JobState } from "../src/gen/conductor/v1/payload_pb.js";
import { startHarness } from "./support/harness.js";
import {
  drain,
  errorInfo,
  grpcError,
  numbered,
  startExternalJob,
} from "./support/jobs.js";

describe("ticket lifecycle", () => {
  it("expires a finished ticket to NOT_FOUND after the timeout", async () => {
    const harness = await startHarness({ timeoutMs: 100 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease);
    const before = await harness.client.getStatus({ ticket });

    await expect.poll(() => harness.server.store.size, { timeout: 5000 }).toBe(0);
    const error = await grpcError(harness.client.pull({ ticket }));

    expect(before.status?.state).toBe(JobState.SUCCEEDED);
    expect(error.code).toBe(Status.NOT_FOUND);
    expect(errorInfo(error)?.reason).toBe("TICKET_NOT_FOUND");
  });

  it("keeps a running ticket past the timeout", async () => {
    const harness = await startHarness({ timeoutMs: 1 });
    const { ticket } = await startExternalJob(harness);

    const response = await harness.client.pull({
      ticket,
      wait: { nanos: 50_000_000 },
    });

    expect(response.state).toBe(JobState.RUNNING);
  });

  it("counts the expiry from the last read", async () => {
    const harness = await startHarness({ timeoutMs: 60_000 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(1) });
    await harness.server.conductor.finish(ticket, lease);
    const ended = await harness.client.getStatus({ ticket });

    await harness.client.pull({ ticket });
    const read = await harness.client.getStatus({ ticket });

    const endTime = ended.status?.endTime?.seconds ?? 0n;
    expect(ended.status?.expireTime?.seconds).toBe(endTime + 60n);
    expect(read.status!.expireTime!.seconds >= endTime + 60n).toBe(true);
  });

  it("answers a ticket that never existed with NOT_FOUND", async () => {
    const { client } = await startHarness();

    const error = await grpcError(client.getStatus({ ticket: 12345n }));

    expect(error.code).toBe(Status.NOT_FOUND);
    expect(error.details).toContain("12345");
  });

  it("answers the largest 64-bit ticket with NOT_FOUND", async () => {
    const { client } = await startHarness();

    const error = await grpcError(client.pull({ ticket: 2n ** 64n - 1n }));

    expect(error.code).toBe(Status.NOT_FOUND);
  });

  it("issues tickets that are unique and not sequential", async () => {
    const harness = await startHarness();
    const tickets: bigint[] = [];
    for (let i = 0; i < 50; i++) {
      tickets.push((await startExternalJob(harness)).ticket);
    }

    const steps = tickets.slice(1).map((t, i) => t - (tickets[i] as bigint));
    expect(new Set(tickets).size).toBe(50);
    expect(new Set(steps).size).toBeGreaterThan(1);
  });
});

describe("finished tickets", () => {
  it("drop their Exec input when the job ends", async () => {
    const harness = await startHarness();
    const input = binaryPayload(new Uint8Array(1024));
    const ticket = await harness.server.store.create({ kind: "x", input, maxRetries: 0 });
    const lease = await harness.server.store.start(ticket);
    const heldInput = harness.server.store.inputOf(ticket);

    await harness.server.conductor.finish(ticket, lease.lease);

    expect(heldInput?.data.case).toBe("binary");
    expect(harness.server.store.inputOf(ticket)?.data.case).toBeUndefined();
  });
});

describe("Cancel", () => {
  it("aborts the work's signal and ends consumers with CANCELLED", async () => {
    const harness = await startHarness();
    let aborted: (reason: unknown) => void = () => {};
    const abortSeen = new Promise((resolve) => {
      aborted = resolve;
    });
    harness.server.conductor.register("endless", {
      run: async (_input, context) => {
        await context.push(...numbered(2));
        await new Promise((resolve) => {
          context.signal.addEventListener("abort", resolve);
        });
        aborted(context.signal.reason);
      },
    });
    const { ticket } = await harness.client.exec({ kind: "endless" });
    await expect
      .poll(async () => (await harness.client.getStatus({ ticket })).status?.pushedCount)
      .toBe(2n);

    const { state } = await harness.client.cancel({ ticket });
    await abortSeen;
    const { messages, code } = await drain(harness.client.subscribe({ ticket }));

    expect(state).toBe(JobState.CANCELLED);
    expect(messages.flatMap((m) => m.results)).toHaveLength(2);
    expect(code).toBe(Status.CANCELLED);
  });

  it("refuses pushes after cancel", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.cancel({ ticket });

    const error = await grpcError(
      harness.client.push({ ticket, lease, results: numbered(1) }),
    );

    expect(error.code).toBe(Status.FAILED_PRECONDITION);
  });

  it("leaves a finished job's state as it was", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease);

    const { state } = await harness.client.cancel({ ticket });

    expect(state).toBe(JobState.SUCCEEDED);
  });
});

describe("GetStatus", () => {
  it("counts pushed, delivered and buffered results", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(5) });
    await harness.client.pull({ ticket, maxResults: 2 });

    const { status } = await harness.client.getStatus({ ticket });

    expect(status?.pushedCount).toBe(5n);
    expect(status?.deliveredCount).toBe(2n);
    expect(status?.bufferedCount).toBe(3n);
    expect(status?.attempt).toBe(1);
    expect(status?.state).toBe(JobState.RUNNING);
  });

  it("reports a failed job's code and message", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease, {
      code: Status.ABORTED,
      message: "gave up",
    });

    const { status } = await harness.client.getStatus({ ticket });

    expect(status?.state).toBe(JobState.FAILED);
    expect(status?.error).toMatchObject({ code: Status.ABORTED, message: "gave up" });
  });
});

describe("ListTickets", () => {
  it("filters by state, newest first", async () => {
    const harness = await startHarness();
    const first = await startExternalJob(harness);
    const second = await startExternalJob(harness);
    const done = await startExternalJob(harness);
    await harness.server.conductor.finish(done.ticket, done.lease);

    const { tickets } = await harness.client.listTickets({
      state: JobState.RUNNING,
    });

    expect(tickets.map((t) => t.ticket)).toEqual([second.ticket, first.ticket]);
  });
});
