import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { BareJobs } from "../bench/lib/bare-jobs-client.js";
import { BARE_PATHS } from "../bench/lib/bare-paths.js";
import { bindLoopback } from "../bench/lib/plain-grpc.js";
import { RawClient } from "../bench/lib/raw-client.js";
import { registerBareJobs } from "../bench/servers/bare-jobs.js";

const SHAPE = { results: 10, sizeBytes: 64, kind: "bench-job" };

describe("bench bare job relay", () => {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startRelay(): Promise<string> {
    const server = new grpc.Server();
    registerBareJobs(server);
    const port = await bindLoopback(server);
    cleanups.push(() => {
      server.forceShutdown();
    });
    return `127.0.0.1:${port}`;
  }

  async function connectedClient(address: string): Promise<RawClient> {
    const client = new RawClient(address);
    cleanups.push(() => client.close());
    await client.connect();
    return client;
  }

  /** Opens a Push stream for job `id`, writes one push and returns the call's error. */
  function pushOnce(client: RawClient, id: string): Promise<unknown> {
    const metadata = new grpc.Metadata();
    metadata.set("job", id);
    const call = client.duplexStream(BARE_PATHS.push, () => {}, metadata);
    const failed = new Promise((resolve) => call.on("error", resolve));
    call.write(new Uint8Array([1]));
    return failed;
  }

  it("sends each push to the watcher", async () => {
    const jobs = await BareJobs.connect(await startRelay(), SHAPE);
    cleanups.push(() => jobs.close());

    const counts = await jobs.run();

    expect(counts).toEqual({ results: 10, messages: 10 });
  });

  it("keeps concurrent jobs apart", async () => {
    const jobs = await BareJobs.connect(await startRelay(), SHAPE);
    cleanups.push(() => jobs.close());

    const counts = await Promise.all(Array.from({ length: 8 }, () => jobs.run()));

    expect(counts.map((c) => c.results)).toEqual(Array(8).fill(10));
  });

  it("fails a push for an unknown job", async () => {
    const client = await connectedClient(await startRelay());

    const error = await pushOnce(client, "777");

    expect(error).toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it("fails a push after Finish", async () => {
    const client = await connectedClient(await startRelay());
    const runner = client.duplexStream(BARE_PATHS.jobs, () => {});
    cleanups.push(() => {
      runner.end();
    });
    const id = await client.unary(BARE_PATHS.exec, new Uint8Array(0));
    await client.unary(BARE_PATHS.finish, id);

    const error = await pushOnce(client, id.toString());

    expect(error).toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
  });

  it("fails the watch of a job whose runner left", async () => {
    const client = await connectedClient(await startRelay());
    const runner = client.duplexStream(BARE_PATHS.jobs, () => {});
    const id = await client.unary(BARE_PATHS.exec, new Uint8Array(0));
    const watched = client.serverStream(BARE_PATHS.watch, id, () => {});

    runner.end();

    await expect(watched).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it("rejects Exec without a runner", async () => {
    const client = await connectedClient(await startRelay());

    const exec = client.unary(BARE_PATHS.exec, new Uint8Array(0));

    await expect(exec).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
