import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach } from "vitest";

/** Root of the repository. */
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The Go module of clients/go. */
export const GO_MODULE = path.join(REPO_ROOT, "clients", "go");
/** The Python package of clients/python. */
export const PYTHON_PACKAGE = path.join(REPO_ROOT, "clients", "python");
/** The server that vitest's global setup builds before any test file runs. */
export const SERVER_MAIN = path.join(REPO_ROOT, "dist", "cli", "main.js");

/**
 * Returns the go command when `go version` runs, or undefined.
 */
export function findGo(): string | undefined {
  return runs("go", ["version"]) ? "go" : undefined;
}

/**
 * Returns a Python interpreter that can import grpc, protobuf and pytest:
 * CONDUCTOR_PYTHON when set, else the virtual environment that
 * scripts/ci-install-tools.sh creates in clients/python/.venv.
 */
export function findPython(): string | undefined {
  const venv = path.join(PYTHON_PACKAGE, ".venv", "bin", "python");
  const python = process.env.CONDUCTOR_PYTHON ?? venv;
  const imports = "import grpc, google.protobuf, pytest";
  return runs(python, ["-c", imports]) ? python : undefined;
}

/**
 * Returns grpcurl from PATH, or else from the folder `go install` writes
 * to, or undefined.
 */
export function findGrpcurl(): string | undefined {
  if (runs("grpcurl", ["-version"])) return "grpcurl";
  const gobin = goEnv("GOBIN") || path.join(goEnv("GOPATH"), "bin");
  const installed = path.join(gobin, "grpcurl");
  return gobin && existsSync(installed) ? installed : undefined;
}

/**
 * Reports whether the tests named by `suite` can run. When `tool` is
 * undefined it prints one line that states `problem` and `fix` and returns
 * false, or throws when CONDUCTOR_REQUIRE_POLYGLOT=1, as CI sets it, so
 * that a skip fails there.
 */
export function canRun(
  suite: string,
  tool: string | undefined,
  problem: string,
  fix: string,
): tool is string {
  if (tool !== undefined) return true;
  if (process.env.CONDUCTOR_REQUIRE_POLYGLOT === "1") {
    throw new Error(`${suite} cannot run: ${problem}. ${fix}.`);
  }
  process.stderr.write(`skipping ${suite}: ${problem}. To run them, ${fix}.\n`);
  return false;
}

function runs(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: "ignore", timeout: 30_000 });
  return result.status === 0;
}

function goEnv(name: string): string {
  const result = spawnSync("go", ["env", name], { encoding: "utf8", timeout: 30_000 });
  return result.status === 0 ? result.stdout.trim() : "";
}

/** How a finished command ended and what it wrote to stdout and stderr. */
export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly cwd?: string;
  /** Variables added to the test's environment. */
  readonly env?: Record<string, string>;
  /** The whole process group is killed after this many milliseconds. */
  readonly timeoutMs: number;
}

/** A process still running, with its output so far. */
export interface RunningCommand {
  readonly child: ChildProcess;
  readonly exited: Promise<CommandResult>;
}

const started: RunningCommand[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map(stopCommand));
});

/** Runs a command to its end. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  return startCommand(command, args, options).exited;
}

/**
 * Starts a command in a process group of its own, so that a timeout or the
 * end of the test also stops the processes it started. It is stopped after
 * the test if still running.
 */
export function startCommand(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): RunningCommand {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), options.timeoutMs);
  const exited = new Promise<CommandResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  const running: RunningCommand = { child, exited };
  started.push(running);
  return running;
}

/** Sends SIGTERM to the group and SIGKILL if it is still there 10 s later. */
async function stopCommand(running: RunningCommand): Promise<void> {
  const { child } = running;
  if (child.exitCode !== null || child.signalCode !== null) return;
  killGroup(child, "SIGTERM");
  const timer = setTimeout(() => killGroup(child, "SIGKILL"), 10_000);
  await running.exited.catch(() => undefined);
  clearTimeout(timer);
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group has already exited.
  }
}
