import { execFileSync, spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CLI_PATH, jsonLines, startCli } from "./support/cli.js";
import { type Harness, startHarness } from "./support/harness.js";
import { numbered, startExternalJob } from "./support/jobs.js";

/** A TCP proxy on loopback whose connections the test can cut. */
interface Proxy {
  readonly address: string;
  /** Stops passing data from the server to the client. */
  hold(): void;
  /** Destroys every open connection; new ones are still accepted. */
  cut(): void;
  /** Connections accepted so far. */
  readonly connectionCount: () => number;
}

const proxies: Server[] = [];

afterEach(async () => {
  await Promise.all(
    proxies
      .splice(0)
      .map((proxy) => new Promise<void>((resolve) => proxy.close(() => resolve()))),
  );
});

async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const upstreams = new Map<Socket, Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections += 1;
    const upstream = connect(targetPort, "127.0.0.1");
    upstreams.set(upstream, client);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        upstreams.delete(upstream);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  proxies.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    hold: () => {
      for (const [upstream, client] of upstreams) upstream.unpipe(client);
    },
    cut: () => {
      for (const socket of sockets) socket.destroy();
    },
    connectionCount: () => connections,
  };
}

describe("conductor watch", () => {
  it("resumes a broken stream without loss or duplicates", async () => {
    const harness = await startHarness();
    const proxy = await startProxy(harness.server.port);
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(3) });
    const watch = startCli(["watch", String(ticket), "--address", proxy.address]);
    await watch.line((line) => line.includes('"sequence":"3"'));

    // Results 4 to 6 are delivered to the stream but never reach the
    // command, so only a resume after sequence 3 can show them.
    proxy.hold();
    await harness.client.push({ ticket, lease, results: numbered(3, 4) });
    await vi.waitFor(async () => {
      const status = await harness.server.conductor.status(ticket);
      expect(status.deliveredCount).toBe(6n);
    });
    proxy.cut();
    await harness.server.conductor.finish(ticket, lease);
    const result = await watch.exited;

    expect(result.code).toBe(0);
    const sequences = jsonLines(result.stdout)
      .filter((line) => "sequence" in line)
      .map((line) => line.sequence);
    expect(sequences).toEqual(["1", "2", "3", "4", "5", "6"]);
    expect(result.stderr).toContain("resuming after sequence 3");
    expect(proxy.connectionCount()).toBeGreaterThan(1);
  });

  it("gives up after --max-reconnects broken streams", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);
    const address = harness.address;
    const watch = startCli([
      "watch",
      String(ticket),
      "--address",
      address,
      "--max-reconnects",
      "1",
    ]);
    await waitForSubscriber(harness);

    await harness.server.close();
    const result = await watch.exited;

    expect(result.code).toBe(1);
    expect(result.stderr.match(/resuming after sequence none/g)).toHaveLength(1);
    expect(result.stderr).toContain(`conductor server at ${address} is unavailable`);
  });
});

/** Waits until a read waits in the harness's store, such as a Subscribe stream. */
async function waitForSubscriber(harness: Harness) {
  await vi.waitFor(() => {
    expect(harness.server.store.waitingReadCount).toBe(1);
  });
}

const hasScript = (() => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe("conductor watch on a terminal", () => {
  it.skipIf(!hasScript)("draws a progress bar and human-readable results", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({
      ticket,
      lease,
      results: numbered(2),
      progress: { done: 2n, total: 4n },
    });
    await harness.server.conductor.finish(ticket, lease);

    // script(1) runs the command on a pseudo-terminal, so that stdout and
    // stderr are TTYs as they are for a person.
    const command = [
      process.execPath,
      CLI_PATH,
      "watch",
      String(ticket),
      "--address",
      harness.address,
    ]
      .map((word) => `'${word}'`)
      .join(" ");
    const result = await runScript(command);

    expect(result).toContain('#1 {"n":1}');
    expect(result).toContain('#2 {"n":2}');
    expect(result).toContain(`[${"#".repeat(15)}${"-".repeat(15)}] 2/4 50%`);
    expect(result).not.toContain('"sequence"');
  });
});

async function runScript(command: string): Promise<string> {
  const child = spawn("script", ["-qefc", command, "/dev/null"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  child.stdin.end();
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect(code).toBe(0);
  return output;
}
