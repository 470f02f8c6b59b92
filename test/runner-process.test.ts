import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Status } from "nice-grpc";
import { afterEach, describe, expect, it } from "vitest";
import { jsonPayload } from "../src/core/payloads.js";
import { JobState } from "../src/gen/conductor/v1/payload_pb.js";
import { startChildRunner, startDigestExample, startRunner } from "./runner-support.js";
import { type Harness, startHarness } from "./support/harness.js";
import { drain, numbered, numberOf } from "./support/jobs.js";

/** Results and final status of a ticket, read with Subscribe. */
async function consume(harness: Harness, ticket: bigint) {
  const consumed = await drain(harness.client.subscribe({ ticket }));
  const results = consumed.messages.flatMap((message) => message.results);
  return { ...consumed, results };
}

const sequences = (results: { sequence: bigint }[]) => results.map((r) => r.sequence);

describe("runner process", () => {
  it("delivers 1,000 results in order, then OK", async () => {
    const harness = await startHarness();
    await startChildRunner(harness, { count: "count" });
    const input = jsonPayload({ count: 1000 });
    const { ticket } = await harness.client.exec({ kind: "count", input });

    const consumed = await consume(harness, ticket);
    const numbers = consumed.results.map((r) => numberOf(r.payload));
    expect(numbers).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(sequences(consumed.results)).toEqual(
      Array.from({ length: 1000 }, (_, i) => BigInt(i + 1)),
    );
    expect(consumed.code).toBe(Status.OK);
  });

  it("fails the job with UNAVAILABLE after SIGKILL", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 500 });
    const child = await startChildRunner(harness, { hold: "hold" });
    const input = jsonPayload({ count: 3 });
    const { ticket } = await harness.client.exec({ kind: "hold", input });
    await child.next("pushed");

    const consuming = consume(harness, ticket);
    child.process.kill("SIGKILL");
    const consumed = await consuming;

    expect(sequences(consumed.results)).toEqual([1n, 2n, 3n]);
    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: the call of runner "child" was cancelled or its connection broke',
    );
  });

  it("detects a stopped process by its missing heartbeats", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 500 });
    const child = await startChildRunner(harness, { hold: "hold" });
    const input = jsonPayload({ count: 2 });
    const { ticket } = await harness.client.exec({ kind: "hold", input });
    await child.next("pushed");

    child.process.kill("SIGSTOP");
    const consumed = await consume(harness, ticket);

    expect(sequences(consumed.results)).toEqual([1n, 2n]);
    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: no heartbeat or other message from runner "child" within 500 ms',
    );
  });

  it("hands a lost job to another runner within max_retries", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 500 });
    const child = await startChildRunner(harness, { hold: "hold" });
    const input = jsonPayload({ count: 3 });
    const { ticket } = await harness.client.exec({ kind: "hold", input, maxRetries: 1 });
    await child.next("pushed");
    const attempts: number[] = [];
    await startRunner(harness, {
      name: "second",
      kinds: {
        hold: async (_, context) => {
          attempts.push(context.attempt);
          await context.push(...numbered(2, 4));
        },
      },
    });

    const consuming = consume(harness, ticket);
    child.process.kill("SIGKILL");
    const consumed = await consuming;

    expect(consumed.results.map((r) => numberOf(r.payload))).toEqual([1, 2, 3, 4, 5]);
    expect(sequences(consumed.results)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(consumed.code).toBe(Status.OK);
    expect(attempts).toEqual([2]);
    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.attempt).toBe(2);
  });

  it("drains on SIGTERM and exits once its job is done", async () => {
    const harness = await startHarness();
    const child = await startChildRunner(harness, { slow: "sigterm" });
    const input = jsonPayload({ count: 2 });
    const { ticket } = await harness.client.exec({ kind: "slow", input });
    await child.next("pushed");

    const exited = new Promise((resolve) => child.process.once("exit", resolve));
    child.process.kill("SIGTERM");
    const consumed = await consume(harness, ticket);

    expect(consumed.results.map((r) => numberOf(r.payload))).toEqual([1, 2, 3]);
    expect(consumed.code).toBe(Status.OK);
    expect(await exited).toBe(0);
    const { status } = await harness.client.getStatus({ ticket });
    expect(status?.state).toBe(JobState.SUCCEEDED);
  });
});

describe("example digest runner", () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });

  it("returns the built-in digest's results", async () => {
    root = await mkdtemp(path.join(tmpdir(), "digest-runner-"));
    await mkdir(path.join(root, "docs"));
    await writeFile(path.join(root, "docs", "a.txt"), "alpha");
    await writeFile(path.join(root, "docs", "b.txt"), "beta");
    const harness = await startHarness({ digestRoot: root });
    await startDigestExample(["--address", harness.address, "--root", root]);
    const input = jsonPayload({ path: "docs" });

    const { ticket: local } = await harness.client.exec({ kind: "digest", input });
    const { ticket: remote } = await harness.client.exec({
      kind: "remote-digest",
      input,
    });
    const expected = await consume(harness, local);
    const actual = await consume(harness, remote);

    expect(actual.code).toBe(Status.OK);
    expect(actual.results).toHaveLength(2);
    expect(actual.results).toEqual(expected.results);
  });

  it("fails a job whose path leaves the root with INVALID_ARGUMENT", async () => {
    root = await mkdtemp(path.join(tmpdir(), "digest-runner-"));
    const harness = await startHarness();
    await startDigestExample(["--address", harness.address, "--root", root]);
    const input = jsonPayload({ path: "../outside" });

    const { ticket } = await harness.client.exec({ kind: "remote-digest", input });
    const consumed = await consume(harness, ticket);

    expect(consumed.code).toBe(Status.INVALID_ARGUMENT);
    expect(consumed.error?.details).toContain("outside the digest root");
  });
});
