import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Status } from "nice-grpc";
import { afterEach, describe, expect, it, vi } from "vitest";
import { jsonPayload } from "../src/core/payloads.js";
import { MAX_KIND_LABELS, OVERFLOW_KIND } from "../src/observability/metrics.js";
import { startHarness } from "./support/harness.js";
import { drain, grpcError, numbered, startExternalJob } from "./support/jobs.js";
import { sampleValue, scrape } from "./support/metrics.js";

let root: string | undefined;

afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  root = undefined;
});

async function digestRoot(files: number): Promise<string> {
  root = await mkdtemp(path.join(tmpdir(), "conductor-metrics-"));
  await mkdir(path.join(root, "data"));
  for (let i = 0; i < files; i++) {
    await writeFile(path.join(root, "data", `f${i}.txt`), `file ${i}\n`);
  }
  return root;
}

const EXEC = { grpc_service: "conductor.v1.ConductorService", grpc_method: "Exec" };

describe("metrics endpoint", () => {
  it("counts jobs, results and calls of a known workload", async () => {
    const harness = await startHarness({
      metricsAddress: "127.0.0.1:0",
      digestRoot: await digestRoot(3),
    });
    const { client } = harness;
    // A digest job over three files, read to the end.
    const { ticket: digest } = await client.exec({
      kind: "digest",
      input: jsonPayload({ path: "data" }),
    });
    expect((await drain(client.subscribe({ ticket: digest }))).code).toBe(Status.OK);
    // A job that pushes five results, of which two are read, then is cancelled.
    const cancelled = await startExternalJob(harness);
    await client.push({ ...cancelled, results: numbered(5) });
    await client.pull({ ticket: cancelled.ticket, maxResults: 2 });
    await client.cancel({ ticket: cancelled.ticket });
    // A job that fails, and an Exec the server rejects.
    const failed = await startExternalJob(harness);
    await harness.server.conductor.finish(failed.ticket, failed.lease, {
      code: 13,
      message: "x",
    });
    await grpcError(client.exec({ kind: "" }));

    const samples = await scrape(harness);

    expect(sampleValue(samples, "conductor_jobs_created_total", { kind: "digest" })).toBe(
      1,
    );
    expect(
      sampleValue(samples, "conductor_jobs_created_total", { kind: "external" }),
    ).toBe(2);
    expect(
      sampleValue(samples, "conductor_jobs_started_total", { kind: "external" }),
    ).toBe(2);
    const finished = (kind: string, outcome: string) =>
      sampleValue(samples, "conductor_jobs_finished_total", { kind, outcome });
    expect(finished("digest", "succeeded")).toBe(1);
    expect(finished("external", "cancelled")).toBe(1);
    expect(finished("external", "failed")).toBe(1);
    expect(sampleValue(samples, "conductor_results_pushed_total")).toBe(8);
    expect(sampleValue(samples, "conductor_results_delivered_total")).toBe(5);
    expect(sampleValue(samples, "conductor_results_replayed_total")).toBe(0);
    expect(sampleValue(samples, "conductor_results_buffered")).toBe(3);
    expect(sampleValue(samples, "conductor_push_wait_seconds_count")).toBe(4);
    const live = (state: string) =>
      sampleValue(samples, "conductor_tickets_live", { state });
    expect([live("queued"), live("running")]).toEqual([0, 0]);
    expect([live("succeeded"), live("failed"), live("cancelled")]).toEqual([1, 1, 1]);
    expect(sampleValue(samples, "conductor_subscribers_active")).toBe(0);
    expect(sampleValue(samples, "conductor_runners_connected")).toBe(0);
    const handled = (grpc_code: string) =>
      sampleValue(samples, "grpc_server_handled_total", { ...EXEC, grpc_code });
    expect(handled("OK")).toBe(1);
    expect(handled("INVALID_ARGUMENT")).toBe(1);
    expect(sampleValue(samples, "grpc_server_started_total", EXEC)).toBe(2);
    expect(sampleValue(samples, "grpc_server_handling_seconds_count", EXEC)).toBe(2);
    const subscribe = {
      grpc_method: "Subscribe",
      grpc_type: "server_stream",
      grpc_code: "OK",
    };
    expect(sampleValue(samples, "grpc_server_handled_total", subscribe)).toBe(1);
  });

  it("counts kinds past the limit as _overflow", async () => {
    const harness = await startHarness({
      metricsAddress: "127.0.0.1:0",
      digestRoot: await digestRoot(1),
    });
    const input = jsonPayload(null);
    for (let i = 0; i < MAX_KIND_LABELS + 2; i++) {
      await harness.client.exec({ kind: `kind-${i}`, input });
    }
    await harness.client.exec({ kind: "digest", input: jsonPayload({ path: "data" }) });

    const samples = await scrape(harness);
    const created = (kind: string) =>
      sampleValue(samples, "conductor_jobs_created_total", { kind });
    const kinds = samples
      .filter((sample) => sample.name === "conductor_jobs_created_total")
      .map((sample) => sample.labels.kind);

    expect(created(`kind-${MAX_KIND_LABELS - 1}`)).toBe(1);
    expect(created(OVERFLOW_KIND)).toBe(2);
    expect(created("digest")).toBe(1);
    expect(kinds).not.toContain(`kind-${MAX_KIND_LABELS}`);
    expect(kinds).toHaveLength(MAX_KIND_LABELS + 2);
  });

  it("counts results sent again to a resumed stream", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(4) });
    await harness.client.pull({ ticket, maxResults: 4 });
    await harness.server.conductor.finish(ticket, lease);

    await drain(harness.client.subscribe({ ticket, afterSequence: 1n }));
    const samples = await scrape(harness);

    expect(sampleValue(samples, "conductor_results_delivered_total")).toBe(4);
    expect(sampleValue(samples, "conductor_results_replayed_total")).toBe(3);
  });

  it("counts a retried push's results once", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(2), firstSequence: 1n });

    await harness.client.push({ ticket, lease, results: numbered(3), firstSequence: 1n });
    const samples = await scrape(harness);

    expect(sampleValue(samples, "conductor_results_pushed_total")).toBe(3);
  });

  it("shows open Subscribe streams", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });
    const { ticket } = await startExternalJob(harness);
    const abort = new AbortController();
    const stream = drain(harness.client.subscribe({ ticket }, { signal: abort.signal }));

    await vi.waitFor(async () => {
      expect(sampleValue(await scrape(harness), "conductor_subscribers_active")).toBe(1);
    });
    abort.abort();
    await stream.catch(() => undefined);

    await vi.waitFor(async () => {
      expect(sampleValue(await scrape(harness), "conductor_subscribers_active")).toBe(0);
    });
    const cancelled = { grpc_method: "Subscribe", grpc_code: "CANCELLED" };
    expect(
      sampleValue(await scrape(harness), "grpc_server_handled_total", cancelled),
    ).toBe(1);
  });

  it("counts a cancelled push stream as CANCELLED", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });
    const { ticket, lease } = await startExternalJob(harness);
    let closeStream = () => {};
    const streamClosed = new Promise<void>((resolve) => {
      closeStream = resolve;
    });
    // The request stream stays open, so only the cancel can end it.
    async function* messages() {
      yield { ticket, lease, results: numbered(1) };
      await streamClosed;
    }
    const abort = new AbortController();
    const pushing = harness.client.pushStream(messages(), { signal: abort.signal });
    await vi.waitFor(async () => {
      const { status } = await harness.client.getStatus({ ticket });
      expect(status?.pushedCount).toBe(1n);
    });

    abort.abort();
    await pushing.catch(() => undefined);
    const pushStream = { grpc_method: "PushStream" };
    await vi.waitFor(async () => {
      const samples = await scrape(harness);
      expect(sampleValue(samples, "grpc_server_handling_seconds_count", pushStream)).toBe(
        1,
      );
    });
    closeStream();

    const codes = (await scrape(harness))
      .filter((sample) => sample.name === "grpc_server_handled_total")
      .filter((sample) => sample.labels.grpc_method === "PushStream")
      .map((sample) => sample.labels.grpc_code);
    expect(codes).toEqual(["CANCELLED"]);
  });

  it("counts expired tickets", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0", timeoutMs: 20 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease);

    await vi.waitFor(async () => {
      expect(sampleValue(await scrape(harness), "conductor_tickets_expired_total")).toBe(
        1,
      );
    });
    expect(
      sampleValue(await scrape(harness), "conductor_tickets_live", {
        state: "succeeded",
      }),
    ).toBe(0);
  });

  it("answers other paths with 404", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });

    const response = await fetch(`http://127.0.0.1:${harness.server.metricsPort}/`);

    expect(response.status).toBe(404);
    await response.text();
  });

  it("answers other methods on /metrics with 405", async () => {
    const harness = await startHarness({ metricsAddress: "127.0.0.1:0" });
    const url = `http://127.0.0.1:${harness.server.metricsPort}/metrics`;

    const post = await fetch(url, { method: "POST", body: "x" });
    const head = await fetch(url, { method: "HEAD" });

    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await post.text();
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toContain("text/plain");
  });

  it("is off without a metrics address", async () => {
    const harness = await startHarness();

    expect(harness.server.metricsPort).toBeUndefined();
  });
});
