import {
  type Channel,
  type ClientError,
  createChannel,
  createClient,
  createClientFactory,
  Status,
} from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { HealthDefinition } from "nice-grpc-server-health";
import { ServerReflectionService } from "nice-grpc-server-reflection";
import { ServerReflectionRequest } from "nice-grpc-server-reflection/lib/proto/grpc/reflection/v1/reflection_pb.js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { jsonPayload } from "../src/core/payloads.js";
import type { Assignment } from "../src/gen/conductor/v1/runner_pb.js";
import { runnerDefinition } from "../src/runner/runner-service.js";
import { jsonLines, runCli, startCli, startServe } from "./support/cli.js";
import { conductorClient, startHarness } from "./support/harness.js";
import {
  drain,
  errorInfo,
  grpcError,
  numbered,
  startExternalJob,
} from "./support/jobs.js";

const SERVING = 1;
const NOT_SERVING = 2;

const channels: Channel[] = [];
const runnerStreams: AbortController[] = [];

afterEach(() => {
  for (const controller of runnerStreams.splice(0)) controller.abort();
  for (const channel of channels.splice(0)) channel.close();
});

function openChannel(address: string): Channel {
  const channel = createChannel(address);
  channels.push(channel);
  return channel;
}

/**
 * Connects a runner of `kind` over RunnerService.Connect, the way a runner
 * process would. `assignment` resolves with the first job it is handed;
 * `ended` with the error that ends the stream.
 */
function connectRunner(address: string, kind: string) {
  const channel = openChannel(address);
  const client = createClientFactory()
    .use(errorDetailsClientMiddleware)
    .create(runnerDefinition, channel);
  const controller = new AbortController();
  runnerStreams.push(controller);
  async function* requests() {
    yield {
      message: {
        case: "register" as const,
        value: { kinds: [kind], concurrency: 1, name: "test" },
      },
    };
    await new Promise((resolve) => controller.signal.addEventListener("abort", resolve));
  }
  const responses = client.connect(requests(), { signal: controller.signal });
  let resolveAssignment!: (assignment: Assignment) => void;
  const assignment = new Promise<Assignment>((resolve) => {
    resolveAssignment = resolve;
  });
  const ended = drain(
    (async function* () {
      for await (const response of responses) {
        if (response.message.case === "assignment")
          resolveAssignment(response.message.value);
        yield response;
      }
    })(),
  );
  return { client, assignment, ended };
}

describe("shutdown", () => {
  it("waits for a running job and its stream, then resolves", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const stream = drain(harness.client.subscribe({ ticket }));
    await harness.client.push({ ticket, lease, results: numbered(1) });
    const health = createClient(HealthDefinition, harness.channel);
    expect((await health.check({ service: "" })).status).toBe(SERVING);

    let shutDown = false;
    const shutdown = harness.server.shutdown(60_000).then(() => {
      shutDown = true;
    });
    const exec = await grpcError(harness.client.exec({ kind: "digest" }));
    const status = await health.check({ service: "conductor.v1.ConductorService" });
    await harness.client.push({ ticket, lease, results: numbered(1, 2) });
    expect(shutDown).toBe(false);
    await harness.server.conductor.finish(ticket, lease);
    const { messages, code } = await stream;
    await shutdown;

    expect(exec.code).toBe(Status.UNAVAILABLE);
    expect(exec.details).toBe("server is shutting down and takes no new jobs");
    expect(errorInfo(exec)?.reason).toBe("SHUTTING_DOWN");
    expect(status.status).toBe(NOT_SERVING);
    expect(messages.flatMap((m) => m.results.map((r) => r.sequence))).toEqual([1n, 2n]);
    expect(code).toBe(Status.OK);
  });

  it("ends open streams with UNAVAILABLE when the grace period ends", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);
    const stream = drain(harness.client.subscribe({ ticket }));
    const pull = grpcError(harness.client.pull({ ticket, wait: { seconds: 30n } }));

    await harness.server.shutdown(50);
    const ended = await stream;
    const pullError = await pull;

    expect(ended.code).toBe(Status.UNAVAILABLE);
    expect(ended.error?.details).toBe(
      "server is shutting down: the grace period of 50 ms ended",
    );
    expect(errorInfo(ended.error as ClientError)?.reason).toBe("SHUTTING_DOWN");
    expect(pullError.code).toBe(Status.UNAVAILABLE);
  });

  it("says why it ends calls when nothing runs", async () => {
    const harness = await startHarness();
    const health = createClientFactory()
      .use(errorDetailsClientMiddleware)
      .create(HealthDefinition, harness.channel);
    const watch = startStream(health.watch({ service: "" }));
    await watch.first;
    const queued = await harness.server.conductor.store.create({
      kind: "remote",
      input: jsonPayload(null),
      maxRetries: 0,
    });
    const pull = grpcError(
      harness.client.pull({ ticket: queued, wait: { seconds: 30n } }),
    );
    await vi.waitFor(() => {
      expect(harness.server.store.waitingReadCount).toBe(1);
    });

    await harness.server.shutdown(60_000);
    const watchEnd = await watch.ended;
    const pullError = await pull;

    const message =
      "server is shutting down: no job is running and no Subscribe stream is open";
    expect(watchEnd.code).toBe(Status.UNAVAILABLE);
    expect(watchEnd.error?.details).toBe(message);
    expect(errorInfo(watchEnd.error as ClientError)?.reason).toBe("SHUTTING_DOWN");
    expect(pullError.code).toBe(Status.UNAVAILABLE);
    expect(pullError.details).toBe(message);
  });

  it("rejects new runners while it drains", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const shutdown = harness.server.shutdown(60_000);

    const runner = connectRunner(harness.address, "remote");
    const { code, error } = await runner.ended;
    await harness.server.conductor.finish(ticket, lease);
    await shutdown;

    expect(code).toBe(Status.UNAVAILABLE);
    expect(error?.details).toBe("server is shutting down and takes no new runners");
  });

  it("returns the same promise when called twice", async () => {
    const harness = await startHarness();

    const first = harness.server.shutdown(1000);
    const second = harness.server.shutdown(5);

    expect(second).toBe(first);
    await first;
  });
});

/**
 * Reads `stream` in the background: `first` resolves with its first
 * message, `ended` as drain does.
 */
function startStream<T>(stream: AsyncIterable<T>) {
  let resolveFirst!: (message: T) => void;
  const first = new Promise<T>((resolve) => {
    resolveFirst = resolve;
  });
  const ended = drain(
    (async function* () {
      for await (const message of stream) {
        resolveFirst(message);
        yield message;
      }
    })(),
  );
  return { first, ended };
}

describe("conductor serve on SIGTERM", () => {
  /** Starts a server process with one running job, held by a runner of this test. */
  async function serveWithRunningJob(args: string[]) {
    const serve = await startServe(["--runner-timeout-ms", "60000", ...args]);
    const runner = connectRunner(serve.address, "slow");
    const exec = await runCli(["exec", "slow", "--address", serve.address]);
    const ticket = BigInt(exec.stdout.trim());
    const assignment = await runner.assignment;
    const conductor = conductorClient(openChannel(serve.address));
    await conductor.push({ ticket, lease: assignment.lease, results: numbered(1) });
    const watch = startCli(["watch", String(ticket), "--address", serve.address]);
    await watch.line((line) => line.includes('"sequence":"1"'));
    return { serve, runner, ticket, lease: assignment.lease, conductor, watch };
  }

  it("lets the running job and watch finish, then exits 0", async () => {
    const { serve, runner, ticket, lease, conductor, watch } = await serveWithRunningJob([
      "--grace-period-ms",
      "60000",
    ]);

    serve.child.kill("SIGTERM");
    await serve.line((line) => line.includes('"shutdown started"'));
    const exec = await runCli(["exec", "slow", "--address", serve.address]);
    await conductor.push({ ticket, lease, results: numbered(1, 2) });
    await runner.client.finish({ ticket, lease });
    const watched = await watch.exited;
    const served = await serve.exited;

    expect(exec.code).toBe(1);
    expect(exec.stderr).toContain(
      "server is shutting down and takes no new jobs (UNAVAILABLE)",
    );
    expect(watched.code).toBe(0);
    const sequences = jsonLines(watched.stdout)
      .filter((line) => "sequence" in line)
      .map((line) => line.sequence);
    expect(sequences).toEqual(["1", "2"]);
    expect(served.code).toBe(0);
    expect(served.stdout).toContain('"shutdown complete"');
    expect(served.stdout).not.toContain('"grace period ended');
  });

  it("ends streams with UNAVAILABLE after the grace period, then exits 0", async () => {
    const { serve, runner, watch } = await serveWithRunningJob([
      "--grace-period-ms",
      "200",
    ]);

    serve.child.kill("SIGTERM");
    const watched = await watch.exited;
    const runnerEnd = await runner.ended;
    const served = await serve.exited;

    expect(watched.code).toBe(1);
    expect(watched.stderr).toContain(
      "conductor: server is shutting down: the grace period of 200 ms ended (UNAVAILABLE)",
    );
    expect(runnerEnd.code).toBe(Status.UNAVAILABLE);
    expect(served.code).toBe(0);
    const logs = jsonLines(served.stdout);
    expect(
      logs.find((line) => line.msg === "grace period ended: ending the calls still open"),
    ).toMatchObject({ runningJobs: 1, openSubscribeStreams: 1 });
    expect(logs.at(-1)?.msg).toBe("shutdown complete");
  });

  it("ends open streams without error logs", async () => {
    const serve = await startServe(["--grace-period-ms", "1000", "--log-level", "debug"]);
    const channel = openChannel(serve.address);
    // grpcurl keeps a reflection stream open for its whole session like this.
    const controller = new AbortController();
    runnerStreams.push(controller);
    async function* requests() {
      const request = new ServerReflectionRequest();
      request.setListServices("*");
      yield request;
      await new Promise((resolve) =>
        controller.signal.addEventListener("abort", resolve),
      );
    }
    const reflection = startStream(
      createClient(ServerReflectionService, channel).serverReflectionInfo(requests()),
    );
    const health = startStream(
      createClient(HealthDefinition, channel).watch({ service: "" }),
    );
    await reflection.first;
    await health.first;

    serve.child.kill("SIGTERM");
    const served = await serve.exited;
    const reflectionEnd = await reflection.ended;
    const healthEnd = await health.ended;

    expect(served.code).toBe(0);
    expect(reflectionEnd.code).toBe(Status.UNAVAILABLE);
    expect(healthEnd.code).toBe(Status.UNAVAILABLE);
    const logs = jsonLines(served.stdout);
    const levels = new Set(logs.map((line) => line.level));
    expect(levels.has("error")).toBe(false);
    expect(levels.has("fatal")).toBe(false);
    expect(
      logs.filter((line) => line.msg === "handler ended after its call ended"),
    ).toContainEqual(
      expect.objectContaining({
        level: "debug",
        method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      }),
    );
  });

  it("exits at once on a second signal", async () => {
    const { serve } = await serveWithRunningJob(["--grace-period-ms", "60000"]);

    serve.child.kill("SIGTERM");
    await serve.line((line) => line.includes('"shutdown started"'));
    serve.child.kill("SIGINT");
    const served = await serve.exited;

    expect(served.code).toBe(128 + 2);
    expect(served.stdout).toContain("second signal during shutdown: exiting at once");
    expect(served.stdout).not.toContain('"shutdown complete"');
  });
});
