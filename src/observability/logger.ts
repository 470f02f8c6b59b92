import { type DestinationStream, type Logger, pino } from "pino";
import type { JobFailure } from "../core/ticket-store.js";
import type { JobOutcome, StoreObserver } from "./observed-store.js";

/** Log levels, most verbose first; "silent" logs nothing. */
export const LOG_LEVELS = [
  "trace",
  "debug",
  "info",
  "warn",
  "error",
  "fatal",
  "silent",
] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Keys whose values never reach a log line, at the top level or one object
 * down, whatever logs them.
 */
const REDACTED_KEYS = ["password", "secret", "token", "authorization", "apiKey"];

/**
 * Creates the server's logger: one JSON object per line with an ISO time
 * and the level as a word, written to `destination` (stdout by default).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: REDACTED_KEYS.flatMap((key) => [key, `*.${key}`]),
  };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * Logs failed jobs (warn) and expired tickets (debug, one line per sweep).
 * Successful and cancelled jobs are not logged: they are routine, and the
 * metrics count them.
 */
export class JobLog implements StoreObserver {
  readonly #logger: Logger;
  #expiredCount = 0;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  jobEnded(
    ticket: bigint,
    kind: string,
    outcome: JobOutcome,
    failure?: JobFailure,
  ): void {
    if (outcome !== "failed" || !failure) return;
    this.#logger.warn(
      { ticket: String(ticket), kind, code: failure.code, error: failure.message },
      "job failed",
    );
  }

  /**
   * Counts an expired ticket. Tickets that expire in one timer callback
   * are logged together once that callback has returned.
   */
  ticketExpired(): void {
    this.#expiredCount += 1;
    if (this.#expiredCount > 1) return;
    queueMicrotask(() => {
      this.#logger.debug({ count: this.#expiredCount }, "tickets expired");
      this.#expiredCount = 0;
    });
  }
}
