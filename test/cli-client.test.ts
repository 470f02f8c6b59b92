import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer, type Server } from "nice-grpc";
import { HealthDefinition, HealthServiceImpl } from "nice-grpc-server-health";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { jsonPayload } from "../src/core/payloads.js";
import { jsonLines, runCli } from "./support/cli.js";
import { type Harness, startHarness } from "./support/harness.js";
import { numbered, startExternalJob } from "./support/jobs.js";

let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "conductor-cli-"));
  await mkdir(path.join(root, "sub"));
  for (const name of ["a.txt", "b.txt", "c.txt"]) {
    await writeFile(path.join(root, "sub", name), `content of ${name}\n`);
  }
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs `conductor ARGS --address ADDRESS` against the harness's server. */
function cli(harness: Harness, args: string[], stdin?: string) {
  return runCli(
    [...args, "--address", harness.address],
    stdin === undefined ? {} : { stdin },
  );
}

describe("conductor exec and watch", () => {
  it("exec prints the ticket of the new job", async () => {
    const harness = await startHarness({ digestRoot: root });

    const result = await cli(harness, ["exec", "digest", "--input", '{"path":"sub"}']);

    expect(result.code).toBe(0);
    const ticket = BigInt(result.stdout.trim());
    const status = await harness.server.conductor.status(ticket);
    expect(status.kind).toBe("digest");
  });

  it("watch follows a job to its end as JSON lines", async () => {
    const harness = await startHarness({ digestRoot: root });
    const exec = await cli(harness, ["exec", "digest", "--input", '{"path":"sub"}']);
    const ticket = exec.stdout.trim();

    const result = await cli(harness, ["watch", ticket]);

    expect(result.code).toBe(0);
    const lines = jsonLines(result.stdout);
    const results = lines.filter((line) => "sequence" in line);
    expect(results.map((line) => line.sequence)).toEqual(["1", "2", "3"]);
    expect(
      results.map((line) => (line.payload as { json: { path: string } }).json.path),
    ).toEqual(["sub/a.txt", "sub/b.txt", "sub/c.txt"]);
    const progress = lines.filter((line) => "progress" in line).at(-1);
    expect(progress).toEqual({ progress: { done: "3", total: "3" } });
  });

  it("exec --watch reads the input from standard input", async () => {
    const harness = await startHarness({ digestRoot: root });

    const result = await cli(
      harness,
      ["exec", "digest", "--input-file", "-", "--watch", "--json"],
      '{"path": "sub/b.txt"}',
    );

    expect(result.code).toBe(0);
    const [execLine, ...rest] = jsonLines(result.stdout);
    expect(execLine?.ticket).toMatch(/^\d+$/);
    const paths = rest
      .filter((line) => "sequence" in line)
      .map((line) => (line.payload as { json: { path: string } }).json.path);
    expect(paths).toEqual(["sub/b.txt"]);
  });

  it("watch exits 4 when the job fails", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.push(ticket, lease, [jsonPayload({ n: 1 })]);
    await harness.server.conductor.finish(ticket, lease, {
      code: 5,
      message: "input gone",
    });

    const result = await cli(harness, ["watch", String(ticket)]);

    expect(result.code).toBe(4);
    expect(jsonLines(result.stdout).filter((line) => "sequence" in line)).toHaveLength(1);
    expect(result.stderr).toContain("job failed with NOT_FOUND: input gone");
  });

  it("watch exits 4 when the job is cancelled", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);
    await harness.server.conductor.cancel(ticket);

    const result = await cli(harness, ["watch", String(ticket)]);

    expect(result.code).toBe(4);
    expect(result.stderr).toContain(`job of ticket ${ticket} was cancelled`);
  });

  it("exec reads --input - from standard input", async () => {
    const harness = await startHarness({ digestRoot: root });

    const result = await cli(
      harness,
      ["exec", "digest", "--input", "-"],
      '{"path": "sub"}',
    );

    expect(result.code).toBe(0);
    const status = await harness.server.conductor.status(BigInt(result.stdout.trim()));
    expect(status.kind).toBe("digest");
    const stdinEmpty = await cli(harness, ["exec", "digest", "--input", "-"], "");
    expect(stdinEmpty.code).toBe(2);
    expect(stdinEmpty.stderr).toContain("invalid standard input: not valid JSON");
  });

  it("exec rejects input that is not JSON with exit code 2", async () => {
    const harness = await startHarness();

    const result = await cli(harness, ["exec", "digest", "--input", "{oops"]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("invalid --input: not valid JSON");
  });

  it("exec rejects --input with --input-file", async () => {
    const harness = await startHarness();

    const result = await cli(harness, [
      "exec",
      "digest",
      "--input",
      "{}",
      "--input-file",
      "x",
    ]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--input and --input-file cannot be used together");
  });

  it("exec exits 2 when the server rejects the input", async () => {
    const harness = await startHarness({ digestRoot: root });

    const result = await cli(harness, ["exec", "digest", "--input", '{"path":"../.."}']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("outside the digest root (INVALID_ARGUMENT)");
  });
});

describe("conductor status, list, pull and cancel", () => {
  it("status shows state, counts and progress", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({
      ticket,
      lease,
      results: numbered(3),
      progress: { done: 3n, total: 4n },
    });

    const result = await cli(harness, ["status", String(ticket)]);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^state\s+running \(attempt 1\)$/m);
    expect(result.stdout).toMatch(/^results\s+3 pushed, 0 delivered, 3 buffered$/m);
    expect(result.stdout).toMatch(/^progress\s+3\/4 \(75%\)$/m);
  });

  it("status --json writes the TicketStatus message", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({
      ticket,
      lease,
      results: [],
      progress: { done: 1n, total: 2n },
    });

    const result = await cli(harness, ["status", String(ticket), "--json"]);

    expect(result.code).toBe(0);
    const [status] = jsonLines(result.stdout);
    expect(status).toMatchObject({
      ticket: String(ticket),
      kind: "external",
      state: "JOB_STATE_RUNNING",
      pushedCount: "0",
      progress: { done: "1", total: "2" },
    });
  });

  it("status exits 3 for an unknown ticket", async () => {
    const harness = await startHarness();

    const result = await cli(harness, ["status", "12345"]);

    expect(result.code).toBe(3);
    expect(result.stderr).toContain("no such ticket: 12345 (NOT_FOUND)");
  });

  it("status rejects a ticket that is not a number", async () => {
    const harness = await startHarness();

    const result = await cli(harness, ["status", "abc"]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid ticket "abc"');
  });

  it("list filters by state and kind", async () => {
    const harness = await startHarness();
    const running = await startExternalJob(harness, "alpha");
    const cancelled = await startExternalJob(harness, "alpha");
    const other = await startExternalJob(harness, "beta");
    await harness.server.conductor.cancel(cancelled.ticket);

    const all = await cli(harness, ["list", "--json"]);
    const byState = await cli(harness, ["list", "--state", "running", "--json"]);
    const byKind = await cli(harness, [
      "list",
      "--kind",
      "alpha",
      "--state",
      "cancelled",
      "--json",
    ]);

    const tickets = (text: string) => {
      const [response] = jsonLines(text) as { tickets: { ticket: string }[] }[];
      return response?.tickets.map((status) => status.ticket);
    };
    expect(tickets(all.stdout)).toEqual(
      [other, cancelled, running].map((job) => String(job.ticket)),
    );
    expect(tickets(byState.stdout)).toEqual(
      [other, running].map((job) => String(job.ticket)),
    );
    expect(tickets(byKind.stdout)).toEqual([String(cancelled.ticket)]);
  });

  it("list prints a table with age and counts", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness, "alpha");
    await harness.client.push({ ticket, lease, results: numbered(2) });

    const result = await cli(harness, ["list"]);

    expect(result.code).toBe(0);
    const [header, row] = result.stdout.trim().split("\n");
    expect(header?.split(/\s+/)).toEqual([
      "TICKET",
      "KIND",
      "STATE",
      "AGE",
      "PUSHED",
      "DELIVERED",
      "BUFFERED",
      "PROGRESS",
    ]);
    expect(row?.split(/\s+/)).toEqual([
      String(ticket),
      "alpha",
      "running",
      "0s",
      "2",
      "0",
      "2",
      "-",
    ]);
  });

  it("list rejects an unknown state with exit code 2", async () => {
    const harness = await startHarness();

    const result = await cli(harness, ["list", "--state", "sleeping"]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Allowed choices are queued, running");
  });

  it("cancel stops a running job", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);

    const result = await cli(harness, ["cancel", String(ticket)]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`ticket ${ticket}: cancelled\n`);
    expect((await harness.server.conductor.status(ticket)).state).toBe("cancelled");
  });

  it("cancel exits 3 for an unknown ticket", async () => {
    const harness = await startHarness();

    const result = await cli(harness, ["cancel", "777"]);

    expect(result.code).toBe(3);
  });

  it("pull takes the next results", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(3) });

    const result = await cli(harness, ["pull", String(ticket), "--max-results", "2"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe('#1 {"n":1}\n#2 {"n":2}\n');
  });

  it("pull reports a finished job with nothing left", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease);

    const human = await cli(harness, ["pull", String(ticket)]);
    const json = await cli(harness, ["pull", String(ticket), "--json"]);

    expect(human.code).toBe(0);
    expect(human.stderr).toContain("no results left: the job succeeded");
    expect(json.code).toBe(0);
    expect(jsonLines(json.stdout)).toEqual([
      { results: [], state: "JOB_STATE_SUCCEEDED" },
    ]);
  });

  it("pull exits 4 when the job failed", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease, {
      code: 13,
      message: "crashed",
    });

    const result = await cli(harness, ["pull", String(ticket)]);

    expect(result.code).toBe(4);
    expect(result.stderr).toContain("job failed with INTERNAL: crashed");
  });
});

describe("conductor runners and connection errors", () => {
  it("runners lists none on a fresh server", async () => {
    const harness = await startHarness();

    const human = await cli(harness, ["runners"]);
    const json = await cli(harness, ["runners", "--json"]);

    expect(human.stdout).toBe("no runners connected\n");
    expect(jsonLines(json.stdout)).toEqual([{ runners: [], nextPageToken: "" }]);
  });

  it("exits 1 and names the address when no server listens", async () => {
    const harness = await startHarness();
    const address = harness.address;
    await harness.server.close();

    const result = await runCli(["status", "1"], { env: { CONDUCTOR_ADDRESS: address } });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`conductor server at ${address} is unavailable`);
  });
});

describe("conductor runners without RunnerService", () => {
  let bare: Server | undefined;

  afterEach(() => {
    bare?.forceShutdown();
    bare = undefined;
  });

  it("exits 1 with an explanation", async () => {
    bare = createServer();
    bare.add(HealthDefinition, HealthServiceImpl());
    const port = await bare.listen("127.0.0.1:0");

    const result = await runCli(["runners", "--address", `127.0.0.1:${port}`]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("does not serve conductor.v1.RunnerService");
  });
});
