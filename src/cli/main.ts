#!/usr/bin/env node
import { CommanderError } from "commander";
import { ClientError, Status } from "nice-grpc";
import { describeClientError } from "./client.js";
import { CliError, ExitCode, errorReason, exitCodeOf } from "./exit-codes.js";
import { escapeControlCharacters } from "./format.js";
import { createProgram } from "./program.js";

/** Writes what went wrong to stderr and returns the exit code. */
function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has written its message or the help text already.
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  for (const line of describe(error).split("\n")) {
    process.stderr.write(`conductor: ${line}\n`);
  }
  return exitCodeOf(error);
}

function describe(error: unknown): string {
  if (error instanceof CliError) return error.message;
  if (error instanceof ClientError) {
    if (errorReason(error) === "JOB_FAILED") {
      const code = Status[error.code] ?? error.code;
      return `job failed with ${code}: ${escapeControlCharacters(error.details)}`;
    }
    return describeClientError(error);
  }
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}
