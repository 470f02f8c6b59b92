import { create, toBinary } from "@bufbuild/protobuf";
import { createClient, Status } from "nice-grpc";
import { describe, expect, it, vi } from "vitest";
import { clientDefinition } from "../clients/ts/src/definition.js";
import { ConductorService } from "../clients/ts/src/gen/conductor/v1/conductor_pb.js";
import { AssignmentSchema } from "../clients/ts/src/gen/conductor/v1/runner_pb.js";
import { JobRun } from "../clients/ts/src/job-run.js";
import { textPayload } from "../clients/ts/src/payloads.js";
import { JobState } from "../src/gen/conductor/v1/payload_pb.js";
import { ListRunnersResponseSchema } from "../src/gen/conductor/v1/runner_pb.js";
import { MAX_LIST_RUNNERS_BYTES } from "../src/runner/runner-list.js";
import { nextAssignment, rawRunner, register, runnerClient } from "./runner-support.js";
import { type Harness, startHarness } from "./support/harness.js";
import { drain, errorInfo, grpcError, numbered } from "./support/jobs.js";

const HEARTBEAT = { message: { case: "heartbeat", value: {} } } as const;

describe("RunnerService.Connect", () => {
  it("rejects a stream that does not start with register", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, HEARTBEAT);
    const error = await grpcError(runner.end());
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details).toContain("must be a register");
    expect(errorInfo(error)?.metadata.field).toBe("register");
  });

  it("ends a stream that sends no register in time", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 100 });
    const error = await grpcError(rawRunner(harness).end());
    expect(error.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(error.details).toContain("no register arrived within 100 ms");
  });

  it.each([
    {
      case: "concurrency 0",
      request: register(["remote"], 0),
      field: "register.concurrency",
      message: "register.concurrency must be at least 1",
    },
    {
      case: "no kinds",
      request: register([], 1),
      field: "register.kinds",
      message: "register.kinds must name at least one job kind",
    },
    {
      case: "an empty kind",
      request: register(["a", ""], 1),
      field: "register.kinds",
      message: "register.kinds[1] must not be empty",
    },
    {
      case: "a built-in kind",
      request: register(["digest"], 1),
      field: "register.kinds",
      message: "register.kinds[0]",
    },
    {
      case: "65 kinds",
      request: register(kindsNamed(65), 1),
      field: "register.kinds",
      message: "register.kinds names 65 kinds; a runner may serve at most 64",
    },
    {
      case: "30,000 long kinds",
      request: register(kindsNamed(30_000, 128), 1),
      field: "register.kinds",
      message: "register.kinds names 30000 kinds",
    },
    {
      case: "a repeated kind",
      request: register(["a", "b", "a"], 1),
      field: "register.kinds",
      message: 'register.kinds[2] repeats kind "a"',
    },
    {
      case: "a kind of 129 characters",
      request: register(["a", "k".repeat(129)], 1),
      field: "register.kinds",
      message: "register.kinds[1] is 129 characters long; the limit is 128",
    },
    {
      case: "a newline in a kind",
      request: register(["bad\nkind"], 1),
      field: "register.kinds",
      message:
        "register.kinds[0] must not contain control characters; found U+000a at index 3",
    },
    {
      case: "an escape in a kind",
      request: register(["ok", "\u001b[31m"], 1),
      field: "register.kinds",
      message: "register.kinds[1] must not contain control characters",
    },
  ])("rejects a register with $case", async ({ request, field, message }) => {
    const harness = await startHarness();
    const error = await grpcError(rawRunner(harness, request).end());
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe(field);
    expect(error.details).toContain(message);
  });

  it("accepts a register with 64 kinds of 128 characters", async () => {
    const harness = await startHarness();
    const message = await rawRunner(harness, register(kindsNamed(64, 128))).next();
    expect(message.case).toBe("registered");
  });

  it("rejects a kind outside runnerKinds", async () => {
    const harness = await startHarness({ runnerKinds: ["allowed"] });
    const error = await grpcError(rawRunner(harness, register(["other"])).end());
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(error.details).toContain('"other"');
  });

  it("rejects a second register", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["remote"]), register(["remote"]));
    const error = await grpcError(runner.end());
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("register");
  });

  it("answers register with the runner id and heartbeat interval", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 900 });
    const message = await rawRunner(harness, register(["remote"])).next();
    expect(message.case).toBe("registered");
    if (message.case !== "registered") return;
    expect(message.value.runnerId).not.toBe("");
    expect(message.value.heartbeatInterval?.nanos).toBe(300_000_000);
  });

  it("assigns a job with its input, attempt and lease", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["remote"]));
    const [input] = numbered(1);
    const { ticket } = await harness.client.exec({ kind: "remote", input });
    const assignment = await nextAssignment(runner);
    expect(assignment.ticket).toBe(ticket);
    expect(assignment.kind).toBe("remote");
    expect(assignment.input).toEqual(input);
    expect(assignment.attempt).toBe(1);
    expect(assignment.lease).not.toBe("");
  });

  it("ends a silent runner's stream and fails its job", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 300 });
    const runner = rawRunner(harness, register(["remote"]));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const { lease } = await nextAssignment(runner);
    await harness.client.push({ ticket, lease, results: numbered(2) });

    const streamError = await grpcError(runner.end());
    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(streamError.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(consumed.messages.flatMap((m) => m.results).map((r) => r.sequence)).toEqual([
      1n,
      2n,
    ]);
    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: no heartbeat or other message from runner "raw" within 300 ms',
    );
  });
});

describe("RunnerService fencing", () => {
  async function heldJob(options: Parameters<typeof startHarness>[0] = {}) {
    const harness = await startHarness(options);
    const runner = rawRunner(harness, register(["remote"]));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    const { lease } = await nextAssignment(runner);
    return { harness, runner, ticket, lease };
  }

  it("rejects a push with a lease that does not hold the job", async () => {
    const { harness, ticket } = await heldJob();
    const error = await grpcError(
      harness.client.push({ ticket, lease: "not-the-lease", results: numbered(1) }),
    );
    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("LEASE_MISMATCH");
  });

  it("rejects the lease of a lost attempt after a retry", async () => {
    const harness = await startHarness();
    const lost = rawRunner(harness, register(["remote"], 1, "lost"));
    const { ticket } = await harness.client.exec({ kind: "remote", maxRetries: 1 });
    const first = await nextAssignment(lost);
    await harness.client.push({ ticket, lease: first.lease, results: numbered(1) });
    lost.close();
    await lost.end();

    const next = rawRunner(harness, register(["remote"], 1, "next"));
    const second = await nextAssignment(next);
    expect(second.attempt).toBe(2);
    expect(second.lease).not.toBe(first.lease);
    const error = await grpcError(
      harness.client.push({ ticket, lease: first.lease, results: numbered(1, 2) }),
    );
    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("LEASE_MISMATCH");
    const pushed = await harness.client.push({
      ticket,
      lease: second.lease,
      results: numbered(1, 2),
    });
    expect(pushed.lastSequence).toBe(2n);
  });

  it("rejects a finish with a lease that does not hold the job", async () => {
    const { harness, ticket } = await heldJob();
    const error = await grpcError(
      runnerClient(harness).finish({ ticket, lease: "not-the-lease" }),
    );
    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("LEASE_MISMATCH");
  });

  it("rejects pushes to a finished job", async () => {
    const { harness, ticket, lease } = await heldJob();
    await runnerClient(harness).finish({ ticket, lease });
    const error = await grpcError(
      harness.client.push({ ticket, lease, results: numbered(1) }),
    );
    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("TICKET_CLOSED");
  });

  it("rejects a finish with an error code outside gRPC's", async () => {
    const { harness, ticket, lease } = await heldJob();
    const error = await grpcError(
      runnerClient(harness).finish({ ticket, lease, error: { code: 0, message: "x" } }),
    );
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("error.code");
  });

  it("ends the job with the error a runner finishes with", async () => {
    const { harness, ticket, lease } = await heldJob();
    const error = { code: Status.NOT_FOUND, message: "input file is gone" };
    await runnerClient(harness).finish({ ticket, lease, error });
    const consumed = await drain(harness.client.subscribe({ ticket }));
    expect(consumed.code).toBe(Status.NOT_FOUND);
    expect(consumed.error?.details).toBe("input file is gone");
  });

  it("keeps revoked job's slot until Finish", async () => {
    const { harness, runner, ticket, lease } = await heldJob();
    await harness.client.cancel({ ticket });
    const { ticket: next } = await harness.client.exec({ kind: "remote" });

    const queued = await harness.client.getStatus({ ticket: next });
    const finish = await grpcError(runnerClient(harness).finish({ ticket, lease }));
    const assigned = await nextAssignment(runner);

    expect(queued.status?.state).toBe(JobState.QUEUED);
    expect(finish.code).toBe(Status.FAILED_PRECONDITION);
    expect(assigned.ticket).toBe(next);
  });

  it("frees revoked slot after runner timeout", async () => {
    const { harness, runner, ticket } = await heldJob({ runnerTimeoutMs: 600 });
    const heartbeats = setInterval(() => runner.send(HEARTBEAT), 100);
    await harness.client.cancel({ ticket });
    const { ticket: next } = await harness.client.exec({ kind: "remote" });

    const assigned = await nextAssignment(runner).finally(() =>
      clearInterval(heartbeats),
    );

    expect(assigned.ticket).toBe(next);
  });

  it("frees slot when push sees cancel first", async () => {
    // A long timeout, so that only a Finish frees the slot in time.
    const { harness, runner, ticket, lease } = await heldJob({
      maxData: 1,
      runnerTimeoutMs: 60_000,
    });
    const definition = clientDefinition(ConductorService);
    const run = new JobRun(
      create(AssignmentSchema, { ticket, lease, kind: "remote", input: textPayload("") }),
      async (_, context) => {
        await context.push(textPayload("stored"));
        // Waits for room until the cancel closes the ticket.
        await context.push(textPayload("refused")).catch(() => {});
      },
      {
        conductor: createClient(definition, harness.channel),
        runner: runnerClient(harness),
        onError: () => {},
      },
    );
    // The job runs here instead of on the raw runner, which reads no
    // Revocation: the run learns of the cancel from its push alone.
    const done = run.run();
    await vi.waitFor(async () => {
      const { status } = await harness.client.getStatus({ ticket });
      expect(status?.pushedCount).toBe(1n);
    });
    await harness.client.cancel({ ticket });
    await done;
    const { ticket: next } = await harness.client.exec({ kind: "remote" });

    const assigned = await nextAssignment(runner);

    expect(assigned.ticket).toBe(next);
  });

  it("revokes a cancelled job on the runner's stream", async () => {
    const { harness, runner, ticket, lease } = await heldJob();
    await harness.client.cancel({ ticket });
    const message = await runner.next();
    expect(message.case).toBe("revocation");
    expect(message.value).toMatchObject({ ticket, lease });
    const error = await grpcError(
      harness.client.push({ ticket, lease, results: numbered(1) }),
    );
    expect(error.code).toBe(Status.FAILED_PRECONDITION);
  });
});

describe("RunnerService drain", () => {
  it("keeps a draining runner's jobs and assigns it no more", async () => {
    const harness = await startHarness();
    const first = rawRunner(harness, register(["remote"], 2, "first"));
    const { ticket: held } = await harness.client.exec({ kind: "remote" });
    const { lease } = await nextAssignment(first);
    first.send({ message: { case: "drain", value: {} } });
    await waitForDraining(harness);

    const { ticket: next } = await harness.client.exec({ kind: "remote" });
    const queued = await harness.client.getStatus({ ticket: next });
    expect(queued.status?.state).toBe(JobState.QUEUED);

    await harness.client.push({ ticket: held, lease, results: numbered(1) });
    await runnerClient(harness).finish({ ticket: held, lease });
    first.close();
    await first.end();

    const second = rawRunner(harness, register(["remote"], 1, "second"));
    const assignment = await nextAssignment(second);
    expect(assignment.ticket).toBe(next);
    const finished = await harness.client.getStatus({ ticket: held });
    expect(finished.status?.state).toBe(JobState.SUCCEEDED);
  });
});

describe("RunnerService.ListRunners", () => {
  it("describes each connected runner", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["a", "b"], 3, "worker-1"));
    await runner.next();
    await harness.client.exec({ kind: "a" });
    await nextAssignment(runner);
    const { runners } = await runnerClient(harness).listRunners({});
    expect(runners).toHaveLength(1);
    expect(runners[0]).toMatchObject({
      name: "worker-1",
      kinds: ["a", "b"],
      concurrency: 3,
      activeJobs: 1,
      draining: false,
    });
  });

  it("pages through runners with page_size", async () => {
    const harness = await startHarness();
    for (const name of ["r1", "r2", "r3"]) {
      await rawRunner(harness, register(["a"], 1, name)).next();
    }
    const client = runnerClient(harness);

    const first = await client.listRunners({ pageSize: 2 });
    const second = await client.listRunners({
      pageSize: 2,
      pageToken: first.nextPageToken,
    });

    expect(first.runners.map((r) => r.name)).toEqual(["r1", "r2"]);
    expect(first.nextPageToken).not.toBe("");
    expect(second.runners.map((r) => r.name)).toEqual(["r3"]);
    expect(second.nextPageToken).toBe("");
  });

  it("keeps every page within the size budget", async () => {
    const harness = await startHarness();
    // 64 kinds of 128 three-byte characters: about 25 KB per runner.
    const kinds = kindsNamed(64, 128).map((kind) => kind.replaceAll("k", "\u20ac"));
    const names = Array.from({ length: 45 }, (_, i) => `r${i}`);
    for (const name of names) {
      await rawRunner(harness, register(kinds, 1, name)).next();
    }
    const client = runnerClient(harness);

    const pages = [];
    let pageToken = "";
    do {
      const page = await client.listRunners({ pageToken });
      pages.push(page);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");

    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) {
      const bytes = toBinary(ListRunnersResponseSchema, page).byteLength;
      expect(bytes).toBeLessThanOrEqual(MAX_LIST_RUNNERS_BYTES);
    }
    expect(pages.flatMap((page) => page.runners.map((r) => r.name))).toEqual(names);
  });

  it("rejects a page token it did not issue", async () => {
    const harness = await startHarness();
    const error = await grpcError(runnerClient(harness).listRunners({ pageToken: "x" }));
    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("page_token");
  });
});

/**
 * `count` distinct kinds, each `length` characters long (at least as long
 * as its number needs).
 */
function kindsNamed(count: number, length = 1): string[] {
  return Array.from({ length: count }, (_, i) => String(i).padStart(length, "k"));
}

/** Waits until ListRunners shows every runner draining. */
async function waitForDraining(harness: Harness) {
  await vi.waitFor(async () => {
    const { runners } = await runnerClient(harness).listRunners({});
    expect(runners.every((r) => r.draining)).toBe(true);
  });
}
