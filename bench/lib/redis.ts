import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";

const INSTALL_SCRIPT = fileURLToPath(
  new URL("../../../../bench/install-redis.sh", import.meta.url),
);

/** A redis-server this benchmark started on a free loopback port, without persistence. */
export class RedisServer {
  readonly port: number;
  readonly #process: ChildProcess;

  private constructor(process: ChildProcess, port: number) {
    this.#process = process;
    this.port = port;
  }

  /**
   * Starts redis-server, installing it first with bench/install-redis.sh
   * when it is missing, and waits until it replies to PING.
   */
  static async start(): Promise<RedisServer> {
    await ensureInstalled();
    const port = await freePort();
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    const server = new RedisServer(child, port);
    try {
      await server.#waitUntilReady();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  async stop(): Promise<void> {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return;
    const exited = once(this.#process, "exit");
    this.#process.kill("SIGTERM");
    await exited;
  }

  async #waitUntilReady(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = new Redis({ port: this.port, host: "127.0.0.1", lazyConnect: true });
      client.on("error", () => {});
      try {
        await client.connect();
        await client.ping();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        client.disconnect();
      }
    }
  }
}

async function ensureInstalled(): Promise<void> {
  const run = promisify(execFile);
  try {
    await run("redis-server", ["--version"]);
  } catch {
    await run("bash", [INSTALL_SCRIPT]);
  }
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (!address || typeof address === "string") throw new Error("no port assigned");
  return address.port;
}
