import { mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer, type Server } from "nice-grpc";
import { HealthDefinition, HealthServiceImpl } from "nice-grpc-server-health";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { jsonPayload } from "../src/core/payloads.js";
import { RunnerService } from "../src/gen/conductor/v1/runner_pb.js";
import { serviceDefinition } from "../src/service/definition.js";
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

  it("exec stops reading standard input at the limit", async () => {
    const harness = await startHarness({ digestRoot: root });
    // Valid JSON one byte over the limit, so only the limit can reject it.
    const input = `${" ".repeat(4 * 1024 * 1024 - 1)}{}`;

    const result = await cli(harness, ["exec", "digest", "--input", "-"], input);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      "invalid standard input: larger than 4194304 bytes, the input size limit",
    );
    expect(harness.server.store.size).toBe(0);
  });

  it("exec applies --max-input-bytes", async () => {
    const harness = await startHarness({ digestRoot: root });
    const input = '{"path":"sub"}';

    const over = await cli(harness, [
      "exec",
      "digest",
      "--input",
      input,
      "--max-input-bytes",
      String(input.length - 1),
    ]);
    const at = await cli(harness, [
      "exec",
      "digest",
      "--input",
      input,
      "--max-input-bytes",
      String(input.length),
    ]);

    expect(over.code).toBe(2);
    expect(over.stderr).toContain(
      `invalid --input: larger than ${input.length - 1} bytes`,
    );
    expect(at.code).toBe(0);
  });

  it("exec checks file size before reading", async () => {
    const harness = await startHarness();
    const file = path.join(root, "big.json");
    // A sparse file: its size is over the limit, its content is not JSON.
    await writeFile(file, "");
    await truncate(file, 4 * 1024 * 1024 + 1);

    const result = await cli(harness, ["exec", "digest", "--input-file", file]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`invalid --input-file ${file}: larger than 4194304`);
  });

  it("exec rejects too deeply nested input", async () => {
    // A remote kind takes any input; its job waits for a runner.
    const harness = await startHarness();
    const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${"}".repeat(levels)}`;

    const deepest = await cli(harness, ["exec", "remote", "--input", nested(48)]);
    const tooDeep = await cli(harness, ["exec", "remote", "--input", nested(49)]);
    const farTooDeep = await cli(
      harness,
      ["exec", "remote", "--input", "-"],
      `${"[".repeat(100_000)}${"]".repeat(100_000)}`,
    );

    expect(deepest.code).toBe(0);
    expect(tooDeep.code).toBe(2);
    expect(tooDeep.stderr).toBe(
      "conductor: invalid --input: objects and arrays are nested more than 48 " +
        "levels deep, which is more than a request can carry\n",
    );
    expect(farTooDeep.code).toBe(2);
    expect(farTooDeep.stderr).toContain("invalid standard input: objects and arrays");
  });

  it("exec rejects out-of-range numbers", async () => {
    const harness = await startHarness();

    const bare = await cli(harness, ["exec", "digest", "--input", "1e999"]);
    const inside = await cli(harness, [
      "exec",
      "digest",
      "--input",
      '{"text":"1e999","n":[1,-2E400]}',
    ]);

    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("invalid --input: the number 1e999 is out of range");
    expect(inside.code).toBe(2);
    expect(inside.stderr).toContain("invalid --input: the number -2E400 is out of range");
    expect(harness.server.store.size).toBe(0);
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

  it("list pages with --page-token and --all", async () => {
    const harness = await startHarness();
    const jobs = [];
    for (let i = 0; i < 5; i++) jobs.push(await startExternalJob(harness));
    const newestFirst = jobs.map((job) => String(job.ticket)).reverse();
    const ticketColumn = (stdout: string) =>
      stdout
        .trim()
        .split("\n")
        .slice(1)
        .map((row) => row.split(/\s+/)[0]);

    const first = await cli(harness, ["list", "--limit", "2"]);
    const token = /--page-token (\S+)/.exec(first.stderr)?.[1] ?? "";
    const second = await cli(harness, ["list", "--limit", "2", "--page-token", token]);
    const all = await cli(harness, ["list", "--limit", "2", "--all", "--json"]);

    expect(first.code).toBe(0);
    expect(ticketColumn(first.stdout)).toEqual(newestFirst.slice(0, 2));
    expect(first.stderr).toMatch(
      /^more tickets exist: add --page-token \S+ for the next/,
    );
    expect(second.code).toBe(0);
    expect(ticketColumn(second.stdout)).toEqual(newestFirst.slice(2, 4));
    const [response] = jsonLines(all.stdout) as {
      tickets: { ticket: string }[];
      nextPageToken: string;
    }[];
    expect(response?.tickets.map((status) => status.ticket)).toEqual(newestFirst);
    expect(response?.nextPageToken).toBe("");
    expect(all.stderr).toBe("");
  });

  it("list prints no hint on the last page", async () => {
    const harness = await startHarness();
    await startExternalJob(harness);
    await startExternalJob(harness);

    const result = await cli(harness, ["list", "--limit", "2"]);
    const json = await cli(harness, ["list", "--limit", "2", "--json"]);

    expect(result.stderr).toBe("");
    expect(jsonLines(json.stdout)[0]?.nextPageToken).toBe("");
  });

  it("list and status escape control characters", async () => {
    const harness = await startHarness();
    // The store takes any kind; Exec would reject this one.
    const kind = "evil\x1b[2J\nkind\u202e";
    const { ticket, lease } = await startExternalJob(harness, kind);
    await harness.server.conductor.finish(ticket, lease, {
      code: 13,
      message: "bad\x1b]0;title\x07\r\nline",
    });

    const list = await cli(harness, ["list"]);
    const status = await cli(harness, ["status", String(ticket)]);
    const pull = await cli(harness, ["pull", String(ticket)]);

    expect(list.code).toBe(0);
    const rows = list.stdout.trim().split("\n");
    expect(rows).toHaveLength(2);
    expect(rows[1]?.split(/\s+/).slice(0, 3)).toEqual([
      String(ticket),
      "evil\\x1b[2J\\nkind\\u202e",
      "failed",
    ]);
    expect(status.stdout).toMatch(/^kind\s+evil\\x1b\[2J\\nkind\\u202e$/m);
    expect(status.stdout).toMatch(/^error\s+INTERNAL: bad\\x1b]0;title\\x07\\r\\nline$/m);
    expect(pull.code).toBe(4);
    expect(pull.stderr).toBe(
      "conductor: job failed with INTERNAL: bad\\x1b]0;title\\x07\\r\\nline\n",
    );
    for (const output of [list.stdout, status.stdout, pull.stderr]) {
      expect(output.replaceAll("\n", "")).not.toMatch(/[\p{Cc}\u202e]/u);
    }
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

  it("pull --after-sequence takes results again", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(3) });
    await harness.client.pull({ ticket, maxResults: 2 });

    const args = ["pull", String(ticket), "--after-sequence", "1"];
    const result = await cli(harness, args);

    expect(result.code).toBe(0);
    expect(result.stdout).toBe('#2 {"n":2}\n');
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

describe("conductor --address", () => {
  it.each(["", "127.0.0.1:99999", "127.0.0.1:0", "a b:1", "[fe80::zz]:1", "localhost"])(
    "rejects %j with exit code 2",
    async (address) => {
      const result = await runCli(["status", "1", "--address", address]);

      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        `option '--address <address>' argument '${address}' is invalid`,
      );
      expect(result.stderr).toContain("must be host:port or [ipv6]:port");
    },
  );

  it("names CONDUCTOR_ADDRESS when its value is invalid", async () => {
    const result = await runCli(["list"], { env: { CONDUCTOR_ADDRESS: "nowhere" } });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain("value 'nowhere' from env 'CONDUCTOR_ADDRESS'");
  });

  it("passes a unix: target on to gRPC", async () => {
    const socket = path.join(root, "no.sock");

    const result = await runCli(["status", "1", "--address", `unix:${socket}`]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`conductor server at unix:${socket} is unavailable`);
  });
});

describe("conductor runners with a stand-in server", () => {
  let bare: Server | undefined;

  afterEach(() => {
    bare?.forceShutdown();
    bare = undefined;
  });

  it("runners escapes control characters", async () => {
    bare = createServer();
    bare.add(serviceDefinition(RunnerService), {
      async *connect() {},
      finish: async () => ({}),
      listRunners: async () => ({
        runners: [
          {
            runnerId: "r\x1b[1m",
            name: "name\nnext",
            kinds: ["a\tb"],
            concurrency: 1,
          },
        ],
      }),
    } as never);
    const port = await bare.listen("127.0.0.1:0");

    const result = await runCli(["runners", "--address", `127.0.0.1:${port}`]);

    expect(result.code).toBe(0);
    const [, row] = result.stdout.trim().split("\n");
    expect(row?.split(/\s+/).slice(0, 3)).toEqual(["r\\x1b[1m", "name\\nnext", "a\\tb"]);
  });

  it("exits 1 without RunnerService", async () => {
    bare = createServer();
    bare.add(HealthDefinition, HealthServiceImpl());
    const port = await bare.listen("127.0.0.1:0");

    const result = await runCli(["runners", "--address", `127.0.0.1:${port}`]);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain("does not serve conductor.v1.RunnerService");
  });
});
