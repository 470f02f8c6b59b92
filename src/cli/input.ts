import { open } from "node:fs/promises";
import type { JsonValue } from "@bufbuild/protobuf";
import { jsonPayload } from "../core/payloads.js";
import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { CliError, ExitCode } from "./exit-codes.js";

const MAX_TICKET = 2n ** 64n - 1n;

/** Default of --max-input-bytes: the server's default message limit, 4 MiB. */
export const DEFAULT_MAX_INPUT_BYTES = 4 << 20;

/**
 * Deepest nesting of JSON objects and arrays in an input. Protobuf decoders
 * such as protobuf-es stop at 100 nested messages by default. ExecRequest
 * and Payload take 2, each level of nesting takes 2 (a Value and its Struct
 * or ListValue) and the innermost Value 1, so 48 levels take 99.
 */
const MAX_INPUT_NESTING = 48;

/** Sources of the job input of `exec`. */
export interface InputOptions {
  /** JSON text, or "-" for standard input. */
  readonly input?: string | undefined;
  /** Path of a JSON file, or "-" for standard input. */
  readonly inputFile?: string | undefined;
  /** Largest input read from any source, in bytes. */
  readonly maxInputBytes: number;
}

/**
 * Reads the job input as a JSON payload; undefined when neither option is
 * set. Throws a usage CliError for both options at once, an unreadable
 * file, input above `maxInputBytes` and text that is not JSON. It throws
 * one too for JSON that does not fit in a request, with a number out of
 * the 64-bit float range or nesting deeper than MAX_INPUT_NESTING.
 * Standard input is read only up to the limit, and a file's size is
 * checked before it is read.
 */
export async function readInput(options: InputOptions): Promise<Payload | undefined> {
  const { input, inputFile, maxInputBytes } = options;
  if (input !== undefined && inputFile !== undefined) {
    throw new CliError(
      "--input and --input-file cannot be used together",
      ExitCode.usage,
    );
  }
  if (input !== undefined && input !== "-") {
    if (Buffer.byteLength(input) > maxInputBytes)
      throw tooLarge("--input", maxInputBytes);
    return parseJson(input, "--input");
  }
  const file = input ?? inputFile;
  if (file === undefined) return undefined;
  const source = file === "-" ? "standard input" : `--input-file ${file}`;
  const text = await readText(file, source, maxInputBytes).catch((error: unknown) => {
    if (error instanceof CliError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`cannot read ${source}: ${reason}`, ExitCode.usage);
  });
  return parseJson(text, source);
}

async function readText(file: string, source: string, maxBytes: number): Promise<string> {
  if (file === "-") return readBounded(process.stdin, source, maxBytes);
  const handle = await open(file, "r");
  try {
    const stat = await handle.stat();
    // Devices and pipes report no size, so the read below is bounded too.
    if (stat.isFile() && stat.size > maxBytes) throw tooLarge(source, maxBytes);
    return await readBounded(
      handle.createReadStream({ autoClose: false }),
      source,
      maxBytes,
    );
  } finally {
    await handle.close();
  }
}

/** Reads `stream` to its end, giving up once it passes `maxBytes`. */
async function readBounded(
  stream: NodeJS.ReadableStream,
  source: string,
  maxBytes: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > maxBytes) throw tooLarge(source, maxBytes);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function tooLarge(source: string, maxBytes: number): CliError {
  return new CliError(
    `invalid ${source}: larger than ${maxBytes} bytes, the input size limit ` +
      "(raise --max-input-bytes up to the server's --max-message-bytes)",
    ExitCode.usage,
  );
}

function parseJson(text: string, source: string): Payload {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`invalid ${source}: not valid JSON (${reason})`, ExitCode.usage);
  }
  checkJson(value, text, source);
  try {
    return jsonPayload(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CliError(`invalid ${source}: ${reason}`, ExitCode.usage);
  }
}

/**
 * Throws a usage CliError for a number that JSON.parse turned into
 * Infinity, or for nesting deeper than MAX_INPUT_NESTING. The walk uses a
 * stack of its own, so deep input cannot overflow the call stack.
 */
function checkJson(value: JsonValue, text: string, source: string): void {
  const stack: [JsonValue, number][] = [[value, 0]];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [item, depth] = entry;
    if (typeof item === "number" && !Number.isFinite(item)) {
      throw new CliError(
        `invalid ${source}: the number ${outOfRangeNumber(text)} is out of range: ` +
          "JSON numbers in an input must fit in a 64-bit float",
        ExitCode.usage,
      );
    }
    if (item === null || typeof item !== "object") continue;
    if (depth >= MAX_INPUT_NESTING) {
      throw new CliError(
        `invalid ${source}: objects and arrays are nested more than ` +
          `${MAX_INPUT_NESTING} levels deep, which is more than a request can carry`,
        ExitCode.usage,
      );
    }
    const children = Array.isArray(item) ? item : Object.values(item);
    for (const child of children) stack.push([child, depth + 1]);
  }
}

/**
 * Returns the first number in valid JSON `text` that is out of the 64-bit
 * float range, as written. Strings are matched whole, so digits inside
 * them are skipped.
 */
function outOfRangeNumber(text: string): string {
  const tokens = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  for (const [token] of text.matchAll(tokens)) {
    if (!token.startsWith('"') && !Number.isFinite(Number(token))) return token;
  }
  return "(not found)";
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
