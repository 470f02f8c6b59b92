import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { DescFile } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { file_conductor_v1_conductor } from "../src/gen/conductor/v1/conductor_pb.js";
import { file_conductor_v1_payload } from "../src/gen/conductor/v1/payload_pb.js";
import { file_conductor_v1_runner } from "../src/gen/conductor/v1/runner_pb.js";
import { nextAssignment, rawRunner, register } from "./runner-support.js";
import { type Harness, startHarness } from "./support/harness.js";
import { canRun, findGrpcurl, runCommand } from "./support/polyglot.js";

// These tests give grpcurl no proto files: it learns every type from the
// server's reflection service, as a user without the repository would.

const FILES: DescFile[] = [
  file_conductor_v1_conductor,
  file_conductor_v1_payload,
  file_conductor_v1_runner,
];
const CONDUCTOR = "conductor.v1.ConductorService";
/** grpcurl exits with 64 plus the gRPC status code of a failed call. */
const EXIT_NOT_FOUND = 64 + 5;
const EXIT_OUT_OF_RANGE = 64 + 11;
/** 2^53: a ticket above it loses digits as a JavaScript number. */
const ABOVE_FLOAT = 2n ** 53n;

const grpcurl = findGrpcurl();

/** Runs grpcurl against the harness with `args` after the address. */
function grpcurlAt(harness: Harness, args: string[], body?: unknown) {
  const data =
    body === undefined
      ? []
      : ["-d", typeof body === "string" ? body : JSON.stringify(body)];
  const flags = ["-plaintext", "-max-time", "20", ...data];
  return runCommand(grpcurl as string, [...flags, harness.address, ...args], {
    timeoutMs: 30_000,
  });
}

/** Calls `method` and returns the response messages it printed. */
async function invoke(harness: Harness, method: string, body?: unknown) {
  const result = await grpcurlAt(harness, [method], body);
  expect(result.code, result.stderr).toBe(0);
  return parseMessages(result.stdout);
}

/** Splits grpcurl's output, one pretty-printed JSON object per message. */
function parseMessages(output: string): Record<string, any>[] {
  const messages: Record<string, any>[] = [];
  let depth = 0;
  let start = 0;
  let inString = false;
  for (let i = 0; i < output.length; i++) {
    const char = output[i];
    if (inString) {
      if (char === "\\") i++;
      else if (char === '"') inString = false;
    } else if (char === '"') {
      inString = true;
    } else if (char === "{") {
      if (depth++ === 0) start = i;
    } else if (char === "}" && --depth === 0) {
      messages.push(JSON.parse(output.slice(start, i + 1)));
    }
  }
  return messages;
}

describe.runIf(
  canRun(
    "grpcurl tests",
    grpcurl,
    "grpcurl is not installed",
    "run scripts/ci-install-tools.sh",
  ),
)("grpcurl through reflection", () => {
  let root: string;
  let harness: Harness;
  const files = ["a.txt", "b.txt", "c.txt"];

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), "conductor-grpcurl-"));
    for (const [index, name] of files.entries()) {
      await writeFile(path.join(root, name), "x".repeat(index + 1));
    }
    harness = await startHarness({ digestRoot: root });
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function execDigest(): Promise<string> {
    const [reply] = await invoke(harness, `${CONDUCTOR}/Exec`, {
      kind: "digest",
      input: { json: { path: "." } },
    });
    expect(typeof reply?.ticket).toBe("string");
    return reply?.ticket as string;
  }

  it("lists every service and method", async () => {
    const services = await grpcurlAt(harness, ["list"]);
    expect(services.code, services.stderr).toBe(0);
    expect(services.stdout.split("\n")).toEqual(
      expect.arrayContaining([
        CONDUCTOR,
        "conductor.v1.RunnerService",
        "grpc.health.v1.Health",
      ]),
    );

    for (const service of FILES.flatMap((file) => file.services)) {
      const methods = await grpcurlAt(harness, ["list", service.typeName]);
      expect(methods.code, methods.stderr).toBe(0);
      expect(methods.stdout.trim().split("\n").sort()).toEqual(
        service.methods.map((method) => `${service.typeName}.${method.name}`).sort(),
      );
    }
  });

  it("lists and describes the reflection services", async () => {
    const services = await grpcurlAt(harness, ["list"]);
    for (const name of [
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]) {
      const described = await grpcurlAt(harness, ["describe", name]);

      expect(services.stdout.split("\n")).toContain(name);
      expect(described.code, described.stderr).toBe(0);
      expect(described.stdout).toContain("rpc ServerReflectionInfo");
    }
  });

  it("describes every service with its methods", async () => {
    for (const service of FILES.flatMap((file) => file.services)) {
      const result = await grpcurlAt(harness, ["describe", service.typeName]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`${service.typeName} is a service:`);
      for (const method of service.methods) {
        const input =
          method.methodKind === "client_streaming" ||
          method.methodKind === "bidi_streaming";
        const output =
          method.methodKind === "server_streaming" ||
          method.methodKind === "bidi_streaming";
        const line =
          `rpc ${method.name} ( ${input ? "stream " : ""}.${method.input.typeName} ) ` +
          `returns ( ${output ? "stream " : ""}.${method.output.typeName} );`;
        expect(result.stdout).toContain(line);
      }
    }
  });

  it("describes every message with its fields", async () => {
    const messages = FILES.flatMap((file) => file.messages);
    expect(messages.length).toBeGreaterThan(20);
    for (const message of messages) {
      const result = await grpcurlAt(harness, ["describe", message.typeName]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`${message.typeName} is a message:`);
      for (const field of message.fields) {
        expect(result.stdout).toMatch(new RegExp(`\\b${field.name} = ${field.number};`));
      }
    }
    const states = await grpcurlAt(harness, ["describe", "conductor.v1.JobState"]);
    expect(states.stdout).toContain("conductor.v1.JobState is an enum:");
    for (const value of file_conductor_v1_payload.enums[0]?.values ?? []) {
      expect(states.stdout).toContain(`${value.name} = ${value.number};`);
    }
  });

  it("execs and subscribes with JSON bodies", async () => {
    const ticket = await execDigest();

    const messages = await invoke(harness, `${CONDUCTOR}/Subscribe`, { ticket });
    const results = messages.flatMap((message) => message.results ?? []);
    expect(results.map((result) => result.sequence)).toEqual(["1", "2", "3"]);
    expect(results.map((result) => result.payload.json.path)).toEqual(files);
    expect(results.map((result) => result.payload.json.size)).toEqual([1, 2, 3]);
    expect(results[0].payload.json.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("pulls until OUT_OF_RANGE", async () => {
    const ticket = await execDigest();
    const request = { ticket, maxResults: 10, wait: "5s" };

    const pulled = [];
    for (let i = 0; i < 10 && pulled.length < files.length; i++) {
      const [reply] = await invoke(harness, `${CONDUCTOR}/Pull`, request);
      pulled.push(...(reply?.results ?? []));
    }
    expect(pulled.map((result) => result.payload.json.path)).toEqual(files);

    const end = await grpcurlAt(harness, [`${CONDUCTOR}/Pull`], request);
    expect(end.code).toBe(EXIT_OUT_OF_RANGE);
    expect(end.stderr).toContain("Code: OutOfRange");
    expect(end.stderr).toContain('"reason": "NO_DATA_LEFT"');
  });

  it("pushes JSON results with the assignment's lease", async () => {
    const runner = rawRunner(harness, register(["grpcurl-push"]));
    const [exec] = await invoke(harness, `${CONDUCTOR}/Exec`, { kind: "grpcurl-push" });
    const ticket = exec?.ticket as string;
    const assignment = await nextAssignment(runner);
    expect(String(assignment.ticket)).toBe(ticket);

    const [pushed] = await invoke(harness, `${CONDUCTOR}/Push`, {
      ticket,
      lease: assignment.lease,
      results: [{ text: "first" }, { json: { n: 2 } }, { binary: "AAE=" }],
      progress: { done: "3", total: "3" },
    });
    expect(pushed).toEqual({ lastSequence: "3" });
    await invoke(harness, "conductor.v1.RunnerService/Finish", {
      ticket,
      lease: assignment.lease,
    });

    const messages = await invoke(harness, `${CONDUCTOR}/Subscribe`, { ticket });
    const results = messages.flatMap((message) => message.results ?? []);
    expect(results).toEqual([
      { sequence: "1", payload: { text: "first" } },
      { sequence: "2", payload: { json: { n: 2 } } },
      { sequence: "3", payload: { binary: "AAE=" } },
    ]);
  });

  it("takes a 64-bit ticket as a JSON string and as a number", async () => {
    let ticket = await execDigest();
    // A random ticket is above 2^53 with odds of 2047 in 2048.
    for (let i = 0; i < 10 && BigInt(ticket) < ABOVE_FLOAT; i++)
      ticket = await execDigest();
    expect(BigInt(ticket)).toBeGreaterThan(ABOVE_FLOAT);

    const method = `${CONDUCTOR}/GetStatus`;
    const [asString] = await invoke(harness, method, `{"ticket": "${ticket}"}`);
    const [asNumber] = await invoke(harness, method, `{"ticket": ${ticket}}`);
    expect(asString?.status.ticket).toBe(ticket);
    expect(asNumber?.status.ticket).toBe(ticket);
  });

  it("reports NOT_FOUND for an unknown ticket", async () => {
    const result = await grpcurlAt(harness, [`${CONDUCTOR}/GetStatus`], { ticket: "5" });
    expect(result.code).toBe(EXIT_NOT_FOUND);
    expect(result.stderr).toContain("Code: NotFound");
    expect(result.stderr).toContain('"reason": "TICKET_NOT_FOUND"');
  });

  it("reports SERVING from the health check", async () => {
    for (const service of ["", CONDUCTOR, "conductor.v1.RunnerService"]) {
      const [reply] = await invoke(harness, "grpc.health.v1.Health/Check", { service });
      expect(reply).toEqual({ status: "SERVING" });
    }
  });
});
