import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Status } from "nice-grpc";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type JobContext, jsonPayload } from "../clients/ts/src/index.js";
import type { Payload } from "../src/gen/conductor/v1/payload_pb.js";
import { runnerClient, startRunner } from "./runner-support.js";
import { type Harness, startHarness } from "./support/harness.js";
import { drain } from "./support/jobs.js";
import {
  canRun,
  findGo,
  findPython,
  GO_MODULE,
  PYTHON_PACKAGE,
  runCommand,
  startCommand,
} from "./support/polyglot.js";

// Each test runs one server, and a client, a runner and a consumer written
// in different languages meet on it. Every runner serves "wordcount":
// {"text": "..."} in, one {"word", "count"} result per distinct word out.

/** Bounds `go build`, which compiles gRPC on its first run. */
const GO_BUILD_TIMEOUT_MS = 8 * 60_000;
const COMMAND_TIMEOUT_MS = 60_000;
const TEXT = "the cat saw the dog";
const COUNTS = [
  { word: "cat", count: 1 },
  { word: "dog", count: 1 },
  { word: "saw", count: 1 },
  { word: "the", count: 2 },
];

const go = findGo();
const python = findPython();
const pythonEnv = {
  PYTHONPATH: [path.join(PYTHON_PACKAGE, "gen"), path.join(PYTHON_PACKAGE, "src")].join(
    path.delimiter,
  ),
};

const runnable =
  canRun("cross-language tests", go, "go is not on PATH", "install Go 1.26 or later") &&
  canRun(
    "cross-language tests",
    python,
    "no Python with grpcio, protobuf and pytest",
    "run scripts/ci-install-tools.sh",
  );

describe.runIf(runnable)("clients in three languages on one server", () => {
  let bin: string;

  beforeAll(async () => {
    bin = await mkdtemp(path.join(tmpdir(), "conductor-go-"));
    const built = await runCommand(
      go as string,
      ["build", "-o", bin, "./examples/runner", "./examples/caller"],
      { cwd: GO_MODULE, timeoutMs: GO_BUILD_TIMEOUT_MS },
    );
    expect(built.code, built.stderr).toBe(0);
  }, GO_BUILD_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    await rm(bin, { recursive: true, force: true });
  });

  /** Waits until ListRunners shows a runner named `name`. */
  async function waitForRunner(harness: Harness, name: string) {
    const runners = runnerClient(harness);
    await vi.waitFor(
      async () => {
        const { runners: listed } = await runners.listRunners({});
        expect(listed.map((runner) => runner.name)).toContain(name);
      },
      { timeout: COMMAND_TIMEOUT_MS, interval: 50 },
    );
  }

  async function startGoRunner(harness: Harness) {
    const args = ["-addr", harness.address, "-kind", "wordcount", "-name", "go"];
    startCommand(path.join(bin, "runner"), args, { timeoutMs: COMMAND_TIMEOUT_MS });
    await waitForRunner(harness, "go");
  }

  async function startPythonRunner(harness: Harness) {
    const args = ["-m", "conductor_examples.runner", "--addr", harness.address];
    startCommand(python as string, [...args, "--kind", "wordcount", "--name", "python"], {
      env: pythonEnv,
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    await waitForRunner(harness, "python");
  }

  async function startTypeScriptRunner(harness: Harness) {
    await startRunner(harness, { name: "typescript", kinds: { wordcount: countWords } });
  }

  /** Execs a wordcount job with the Python caller and returns the ticket. */
  async function execWithPython(harness: Harness): Promise<bigint> {
    const args = ["-m", "conductor_examples.caller", "--addr", harness.address];
    const input = JSON.stringify({ text: TEXT });
    const result = await runCommand(
      python as string,
      [...args, "--kind", "wordcount", "--input", input, "--detach"],
      { env: pythonEnv, timeoutMs: COMMAND_TIMEOUT_MS },
    );
    expect(result.code, result.stderr).toBe(0);
    return BigInt(result.stdout.trim());
  }

  /** Execs a wordcount job with the Go caller and returns the ticket. */
  async function execWithGo(harness: Harness): Promise<bigint> {
    const input = JSON.stringify({ text: TEXT });
    const args = ["-addr", harness.address, "-kind", "wordcount", "-input", input];
    const result = await runCommand(path.join(bin, "caller"), [...args, "-detach"], {
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    expect(result.code, result.stderr).toBe(0);
    return BigInt(result.stdout.trim());
  }

  /** Follows `ticket` with the Go caller and returns the JSON results. */
  async function followWithGo(harness: Harness, ticket: bigint) {
    const args = ["-addr", harness.address, "-ticket", String(ticket)];
    const result = await runCommand(path.join(bin, "caller"), args, {
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split("\n");
    return lines.map((line) => JSON.parse(line).payload.json);
  }

  /** Follows `ticket` with the Python caller and returns the JSON results. */
  async function followWithPython(harness: Harness, ticket: bigint) {
    const args = ["-m", "conductor_examples.caller", "--addr", harness.address];
    const result = await runCommand(
      python as string,
      [...args, "--ticket", String(ticket)],
      { env: pythonEnv, timeoutMs: COMMAND_TIMEOUT_MS },
    );
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split("\n");
    return lines.map((line) => JSON.parse(line).payload.json);
  }

  /** Subscribes to `ticket` from TypeScript and returns the JSON results. */
  async function subscribeWithTypeScript(harness: Harness, ticket: bigint) {
    const { messages, code } = await drain(harness.client.subscribe({ ticket }));
    expect(code).toBe(Status.OK);
    return messages
      .flatMap((message) => message.results)
      .map((result) => jsonOf(result.payload));
  }

  it("runs a Python exec on a Go runner for a TypeScript subscriber", async () => {
    const harness = await startHarness();
    await startGoRunner(harness);

    const ticket = await execWithPython(harness);

    expect(await subscribeWithTypeScript(harness, ticket)).toEqual(COUNTS);
  });

  it("runs a Go exec on a Python runner for a TypeScript subscriber", async () => {
    const harness = await startHarness();
    await startPythonRunner(harness);

    const ticket = await execWithGo(harness);

    expect(await subscribeWithTypeScript(harness, ticket)).toEqual(COUNTS);
  });

  it("runs a TypeScript exec on a Python runner for a Go follower", async () => {
    const harness = await startHarness();
    await startPythonRunner(harness);

    const { ticket } = await harness.client.exec({
      kind: "wordcount",
      input: jsonPayload({ text: TEXT }),
    });

    expect(await followWithGo(harness, ticket)).toEqual(COUNTS);
  });

  it("runs a Go exec on the TypeScript SDK runner for a Python follower", async () => {
    const harness = await startHarness();
    await startTypeScriptRunner(harness);

    const ticket = await execWithGo(harness);

    expect(await followWithPython(harness, ticket)).toEqual(COUNTS);
  });

  it("runs a Python exec on a Go runner for a Python follower", async () => {
    const harness = await startHarness();
    await startGoRunner(harness);

    const ticket = await execWithPython(harness);

    expect(await followWithPython(harness, ticket)).toEqual(COUNTS);
  });
});

/** Counts words for the TypeScript SDK runner, as the Go and Python examples do. */
async function countWords(input: Payload, context: JobContext): Promise<void> {
  const { text } = jsonOf(input) as { text: string };
  const counts = new Map<string, number>();
  for (const word of text.split(/\s+/).filter(Boolean)) {
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  for (const word of [...counts.keys()].sort()) {
    await context.push(jsonPayload({ word, count: counts.get(word) ?? 0 }));
  }
}

function jsonOf(payload: Payload | undefined): unknown {
  if (payload?.data.case !== "json") throw new Error("payload is not JSON");
  return toJson(ValueSchema, payload.data.value);
}
