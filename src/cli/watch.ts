import { setTimeout as delay } from "node:timers/promises";
import { toJsonString } from "@bufbuild/protobuf";
import { ClientError, Status } from "nice-grpc";
import {
  type Progress,
  ProgressSchema,
  type Result,
  ResultSchema,
} from "../gen/conductor/v1/payload_pb.js";
import type { Connection } from "./client.js";
import { errorReason } from "./exit-codes.js";
import { escapeControlCharacters, formatResult } from "./format.js";
import { JSON_OPTIONS } from "./json.js";
import { ProgressLine } from "./progress-bar.js";

/** Output and resume settings of `watch`. */
export interface WatchOptions {
  /** JSON lines on stdout instead of human-readable lines. */
  readonly json: boolean;
  /** Reconnects in a row without a result in between before giving up. */
  readonly maxReconnects: number;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

/** First delay before a reconnect; it doubles up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;

/**
 * Follows a ticket with Subscribe and prints each result and progress
 * report until the stream ends. A stream that breaks (see isBrokenStream)
 * is resumed after the last sequence received, so results are
 * printed once each, in order. Resolves when the job succeeded and every
 * result was printed; rejects with the ClientError that ended the stream
 * otherwise.
 */
export async function watchTicket(
  connection: Connection,
  ticket: bigint,
  options: WatchOptions,
): Promise<void> {
  const printer = new WatchPrinter(options);
  let lastSequence: bigint | undefined;
  let reconnects = 0;
  try {
    for (;;) {
      try {
        const stream = connection.conductor.subscribe({
          ticket,
          afterSequence: lastSequence,
        });
        for await (const message of stream) {
          for (const result of message.results) {
            if (lastSequence !== undefined && result.sequence <= lastSequence) continue;
            printer.result(result);
            lastSequence = result.sequence;
            reconnects = 0;
          }
          if (message.progress) printer.progress(message.progress);
        }
        return;
      } catch (error) {
        if (!isBrokenStream(error) || reconnects >= options.maxReconnects) throw error;
        const backoffMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** reconnects);
        reconnects += 1;
        printer.notice(
          `stream broke (${escapeControlCharacters(error.details)}); resuming after sequence ` +
            `${lastSequence ?? "none"} in ${backoffMs} ms`,
        );
        await delay(backoffMs);
      }
    }
  } finally {
    printer.finish();
  }
}

/**
 * Returns true for a stream ended by the transport, not by the job or a
 * bad request. Errors from the conductor carry an ErrorInfo reason; a lost
 * connection is UNAVAILABLE, a reset stream INTERNAL, and a server closed
 * by force CANCELLED, all without one.
 */
function isBrokenStream(error: unknown): error is ClientError {
  if (!(error instanceof ClientError) || errorReason(error) !== undefined) return false;
  return BROKEN_STREAM_CODES.has(error.code);
}

const BROKEN_STREAM_CODES: ReadonlySet<Status> = new Set([
  Status.UNAVAILABLE,
  Status.INTERNAL,
  Status.CANCELLED,
]);

/** Writes results and progress as JSON lines or for a person at a terminal. */
class WatchPrinter {
  readonly #options: WatchOptions;
  /** The progress bar, drawn only when stderr is a terminal. */
  readonly #bar: ProgressLine | undefined;

  constructor(options: WatchOptions) {
    this.#options = options;
    this.#bar = options.stderr.isTTY ? new ProgressLine(options.stderr) : undefined;
  }

  result(result: Result): void {
    const line = this.#options.json
      ? toJsonString(ResultSchema, result, JSON_OPTIONS)
      : formatResult(result);
    this.#print(this.#options.stdout, line);
  }

  progress(progress: Progress): void {
    if (this.#options.json) {
      this.#print(
        this.#options.stdout,
        `{"progress":${toJsonString(ProgressSchema, progress, JSON_OPTIONS)}}`,
      );
    }
    this.#bar?.update(progress);
  }

  notice(message: string): void {
    this.#print(this.#options.stderr, `conductor: ${message}`);
  }

  finish(): void {
    this.#bar?.finish();
  }

  #print(stream: NodeJS.WritableStream, line: string): void {
    if (this.#bar) this.#bar.print(() => stream.write(`${line}\n`));
    else stream.write(`${line}\n`);
  }
}
