import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClientFactory } from "nice-grpc";
import { errorDetailsClientMiddleware } from "nice-grpc-error-details";
import { afterEach } from "vitest";
import {
  connectRunner,
  type Runner,
  type RunnerOptions,
} from "../clients/ts/src/index.js";
import { RequestQueue } from "../clients/ts/src/request-queue.js";
import type {
  ConnectRequestSchema,
  ConnectResponse,
} from "../src/gen/conductor/v1/runner_pb.js";
import { runnerDefinition } from "../src/runner/runner-service.js";
import type { Behaviour } from "./runner-child.js";
import type { Harness } from "./support/harness.js";

const running: Runner[] = [];
const children: ChildProcess[] = [];
const calls: AbortController[] = [];

afterEach(async () => {
  for (const call of calls.splice(0)) call.abort();
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await Promise.all(running.splice(0).map((runner) => runner.close()));
});

/** A RunnerService client that decodes google.rpc error details. */
export function runnerClient(harness: Harness) {
  return createClientFactory()
    .use(errorDetailsClientMiddleware)
    .create(runnerDefinition, harness.channel);
}

/**
 * Starts an in-process runner on the harness's server, or on `address`
 * when given, and waits until it is registered. It is closed after the
 * test.
 */
export async function startRunner(
  harness: Harness,
  options: Omit<RunnerOptions, "address">,
  address = harness.address,
): Promise<Runner> {
  const runner = connectRunner({ address, ...options });
  running.push(runner);
  await runner.registered;
  return runner;
}

/** A runner in its own process, with the events it printed. */
export interface ChildRunner {
  readonly process: ChildProcess;
  /** Resolves with the first event of `name` for which `match` is true. */
  next(name: string, match?: (event: ChildEvent) => boolean): Promise<ChildEvent>;
}

export type ChildEvent = Record<string, string | number> & { event: string };

/**
 * Starts test/runner-child.ts in a child process and waits until it is
 * registered. It is killed after the test.
 */
export async function startChildRunner(
  harness: Harness,
  kinds: Record<string, Behaviour>,
  name = "child",
): Promise<ChildRunner> {
  const script = fileURLToPath(new URL("./runner-child.ts", import.meta.url));
  const config = JSON.stringify({ address: harness.address, name, kinds });
  const child = spawn(process.execPath, ["--import", "tsx", script, config], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const events: ChildEvent[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    events.push(JSON.parse(line) as ChildEvent);
    for (const wake of [...waiters]) wake();
  });
  const next = (name: string, match: (event: ChildEvent) => boolean = () => true) =>
    new Promise<ChildEvent>((resolve, reject) => {
      const check = () => {
        const found = events.find((event) => event.event === name && match(event));
        if (found) {
          waiters.delete(check);
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.delete(check);
          reject(new Error(`runner process exited before printing ${name}`));
        }
      };
      waiters.add(check);
      child.once("exit", check);
      check();
    });
  await next("registered");
  return { process: child, next };
}

export type ConnectRequest = MessageInitShape<typeof ConnectRequestSchema>;

/** A Register request for `kinds`. */
export function register(kinds: string[], concurrency = 1, name = "raw"): ConnectRequest {
  return { message: { case: "register", value: { kinds, concurrency, name } } };
}

/**
 * A runner speaking the protocol by hand: the test sends each request and
 * reads each response itself. Its call is cancelled after the test.
 */
export function rawRunner(harness: Harness, ...first: ConnectRequest[]) {
  const requests = new RequestQueue<ConnectRequest>();
  for (const request of first) requests.send(request);
  const call = new AbortController();
  calls.push(call);
  const responses = runnerClient(harness)
    .connect(requests, { signal: call.signal })
    [Symbol.asyncIterator]();
  return {
    send: (request: ConnectRequest) => requests.send(request),
    /** Half-closes the stream. */
    close: () => requests.close(),
    /** Cancels the call, as a runner whose connection breaks would. */
    cancel: () => call.abort(),
    /** The next response; rejects with the error that ended the stream. */
    async next(): Promise<ConnectResponse["message"]> {
      const result = await responses.next();
      if (result.done) throw new Error("the Connect stream ended");
      return result.value.message;
    },
    /** Resolves once the server has ended the stream; rejects on error. */
    async end(): Promise<void> {
      for (let r = await responses.next(); !r.done; r = await responses.next()) {}
    },
  };
}

/** Reads responses until an assignment arrives, and returns it. */
export async function nextAssignment(runner: ReturnType<typeof rawRunner>) {
  for (;;) {
    const message = await runner.next();
    if (message.case === "assignment") return message.value;
  }
}

/**
 * Starts examples/digest-runner.ts with `args` and waits until it prints
 * that it registered. It is killed after the test.
 */
export async function startDigestExample(args: string[]): Promise<ChildProcess> {
  const script = fileURLToPath(new URL("../examples/digest-runner.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  await new Promise<void>((resolve, reject) => {
    lines.on("line", (line) => {
      if (line.includes("registered as")) resolve();
    });
    child.once("exit", () =>
      reject(new Error("digest-runner exited before it registered")),
    );
  });
  return child;
}
