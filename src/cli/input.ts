import { readFile } from "node:fs/promises";
import type { JsonValue } from "@bufbuild/protobuf";
import { jsonPayload } from "../core/payloads.js";
import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { CliError, ExitCode } from "./exit-codes.js";

const MAX_TICKET = 2n ** 64n - 1n;

/** Sources of the job input of `exec`. */
export interface InputOptions {
  /** JSON text, or "-" for standard input. */
  readonly input?: string | undefined;
  /** Path of a JSON file, or "-" for standard input. */
  readonly inputFile?: string | undefined;
}

/**
 * Reads the job input as a JSON payload; undefined when neither option is
 * set. Throws a usage CliError for both options at once, an unreadable
 * file or text that is not JSON.
 */
export async function readInput(options: InputOptions): Promise<Payload | undefined> {
  const { input, inputFile } = options;
  if (input !== undefined && inputFile !== undefined) {
    throw new CliError(
      "--input and --input-file cannot be used together",
      ExitCode.usage,
    );
  }
  if (input !== undefined && input !== "-") return parseJson(input, "--input");
  const file = input ?? inputFile;
  if (file === undefined) return undefined;
  const source = file === "-" ? "standard input" : `--input-file ${file}`;
  const text = await readText(file).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`cannot read ${source}: ${reason}`, ExitCode.usage);
  });
  return parseJson(text, source);
}

function readText(file: string): Promise<string> {
  return file === "-" ? readStream(process.stdin) : readFile(file, "utf8");
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string, source: string): Payload {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`invalid ${source}: not valid JSON (${reason})`, ExitCode.usage);
  }
  return jsonPayload(value);
}

/** Parses a ticket argument: a whole number from 1 to 2^64 - 1. */
export function parseTicket(raw: string): bigint {
  const ticket = /^\d{1,20}$/.test(raw) ? BigInt(raw) : 0n;
  if (ticket < 1n || ticket > MAX_TICKET) {
    throw new CliError(
      `invalid ticket "${raw}": must be a whole number from 1 to ${MAX_TICKET}`,
      ExitCode.usage,
    );
  }
  return ticket;
}
