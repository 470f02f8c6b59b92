import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";

/** A command sent to a child process and the id its reply carries. */
interface CommandMessage {
  readonly id: number;
  readonly command: string;
  readonly args: unknown;
}

type ReplyMessage =
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: string };

type ReadyMessage = { readonly ready: true; readonly port: number };

/** Settings shared by every child process the benchmark starts. */
export interface ChildOptions {
  /** Extra node flags, such as --expose-gc or --cpu-prof. */
  readonly nodeFlags?: readonly string[] | undefined;
}

/**
 * A benchmark process: a server under test or a measuring process. It
 * reports a port when ready and then replies to commands over the IPC
 * channel, "cpuUsage" among them.
 */
export class Child {
  readonly port: number;
  readonly #process: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: Error): void }
  >();
  #nextId = 1;

  private constructor(process: ChildProcess, port: number) {
    this.#process = process;
    this.port = port;
    process.on("message", (message: ReplyMessage) => this.#settle(message));
    process.on("exit", (code) => {
      for (const { reject } of this.#pending.values()) {
        reject(new Error(`benchmark process exited with code ${code}`));
      }
      this.#pending.clear();
    });
  }

  /** Starts `script` with `settings` as its argument and waits until it is ready. */
  static async start(
    script: URL,
    settings: unknown,
    options: ChildOptions = {},
  ): Promise<Child> {
    const child = fork(script, [JSON.stringify(settings)], {
      execArgv: [...(options.nodeFlags ?? [])],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const [message] = (await Promise.race([
      once(child, "message"),
      once(child, "exit").then(([code]) => {
        throw new Error(
          `${script.pathname} exited with code ${code} before it was ready`,
        );
      }),
    ])) as [ReadyMessage];
    return new Child(child, message.port);
  }

  /** Sends a command and returns the child's result. */
  request<T>(command: string, args: unknown = {}): Promise<T> {
    const id = this.#nextId++;
    const message: CommandMessage = { id, command, args };
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#process.send(message);
    });
  }

  /** Asks the child to exit, so that a CPU profile it records gets written. */
  async stop(): Promise<void> {
    if (this.#process.exitCode !== null) return;
    const exited = once(this.#process, "exit");
    this.#process.send({ id: 0, command: "exit", args: {} } satisfies CommandMessage);
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  #settle(message: ReplyMessage): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if ("error" in message) pending.reject(new Error(message.error));
    else pending.resolve(message.result);
  }
}

/** A command handler of a child process. */
export type Handlers = Record<string, (args: any) => unknown>;

/**
 * Runs inside a child: reports `port` as ready and replies to commands with
 * `handlers` until the parent sends "exit" or disconnects.
 */
export function serveCommands(port: number, handlers: Handlers): void {
  // Sending to a parent that is gone throws, so replies to it are dropped.
  const send = (message: ReplyMessage | ReadyMessage) => {
    if (process.connected) process.send?.(message);
  };
  process.on("message", async (message: CommandMessage) => {
    if (message.command === "exit") process.exit(0);
    const handler =
      message.command === "cpuUsage" ? cpuMicroseconds : handlers[message.command];
    try {
      if (!handler) throw new Error(`unknown command ${message.command}`);
      send({ id: message.id, result: await handler(message.args) });
    } catch (error) {
      send({
        id: message.id,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
  });
  process.on("disconnect", () => process.exit(0));
  send({ ready: true, port });
}

/** CPU time the process has used so far, user and system, in microseconds. */
function cpuMicroseconds(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Returns the settings this child was started with. */
export function childSettings<T>(): T {
  return JSON.parse(process.argv[2] ?? "{}") as T;
}
