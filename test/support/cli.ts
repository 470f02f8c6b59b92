import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";

/** The built executable that package.json names as `conductor`. */
export const CLI_PATH = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** How a finished command ended and what it wrote. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Variables added to an environment without any CONDUCTOR_* variable. */
  readonly env?: Record<string, string>;
  /** Written to standard input, which is then closed. */
  readonly stdin?: string;
}

/** A command still running, with its output so far. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Resolves with the first stdout line, seen or future, that `match` accepts. */
  line(match: (line: string) => boolean): Promise<string>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<CliResult>;
}

const started: ChildProcess[] = [];

afterEach(() => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});

/** Runs `conductor ARGS` to its end. */
export function runCli(
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  return startCli(args, options).exited;
}

/** Starts `conductor ARGS`; it is killed after the test if still running. */
export function startCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...cleanEnv(), ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  started.push(child);
  // A command may exit before it has read all of its input, as exec does
  // with input above its size limit. The write then fails with EPIPE.
  child.stdin.on("error", () => {});
  child.stdin.end(options.stdin ?? "");

  let stdout = "";
  let stderr = "";
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line);
    for (const wake of [...waiters]) wake();
  });

  const exited = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
      for (const wake of [...waiters]) wake();
    });
  });

  const line = (match: (line: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find(match);
        if (found !== undefined) {
          waiters.delete(check);
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          waiters.delete(check);
          reject(
            new Error(
              `command exited before the line; stdout: ${stdout}; stderr: ${stderr}`,
            ),
          );
        }
      };
      waiters.add(check);
      check();
    });

  return { child, line, exited };
}

/** Returns the environment of the tests without CONDUCTOR_* variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("CONDUCTOR_")) env[name] = value;
  }
  return env;
}

/** Parses the JSON lines a command wrote. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A `conductor serve` process and the ports its start-up log line names. */
export interface ServeProcess extends CliProcess {
  readonly port: number;
  readonly address: string;
  readonly metricsPort: number | undefined;
}

/**
 * Starts `conductor serve` on a free loopback port with `args` added, and
 * waits for its "server started" log line.
 */
export async function startServe(
  args: readonly string[] = [],
  options: CliOptions = {},
): Promise<ServeProcess> {
  const cli = startCli(["serve", "--listen", "127.0.0.1:0", ...args], options);
  const started = JSON.parse(
    await cli.line((line) => line.includes('"server started"')),
  ) as {
    port: number;
    metricsPort?: number;
  };
  return {
    ...cli,
    port: started.port,
    address: `127.0.0.1:${started.port}`,
    metricsPort: started.metricsPort,
  };
}
