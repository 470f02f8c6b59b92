import { JobCancelledError, JobFailedError, NoDataLeftError } from "./errors.js";
import { PushQueue } from "./push-queue.js";
import { ResultLog, type Retention } from "./result-log.js";
import type {
  JobFailure,
  JobState,
  Progress,
  TicketSnapshot,
  TicketSpec,
} from "./ticket-store.js";
import type { WaitList } from "./wait-list.js";

/** The in-memory state of one ticket. */
export interface TicketRecord {
  readonly ticket: bigint;
  /** Its input is dropped once the job ends. */
  spec: TicketSpec;
  readonly log: ResultLog;
  readonly pushes: PushQueue;
  state: JobState;
  attempt: number;
  lease: string | undefined;
  progress: Progress | undefined;
  progressVersion: number;
  failure: JobFailure | undefined;
  readonly createTimeMs: number;
  startTimeMs: number | undefined;
  endTimeMs: number | undefined;
  lastReadMs: number;
  /** Wake-ups of reads waiting for a change; created on first wait. */
  readers: WaitList | undefined;
}

/** Creates the record of a queued ticket with nothing pushed yet. */
export function newRecord(
  ticket: bigint,
  spec: TicketSpec,
  retention: Retention,
): TicketRecord {
  const nowMs = Date.now();
  return {
    ticket,
    spec,
    log: new ResultLog(retention),
    pushes: new PushQueue(),
    state: "queued",
    attempt: 0,
    lease: undefined,
    progress: undefined,
    progressVersion: 0,
    failure: undefined,
    createTimeMs: nowMs,
    startTimeMs: undefined,
    endTimeMs: undefined,
    lastReadMs: nowMs,
    readers: undefined,
  };
}

/** Throws the end of an ended job's stream; returns while it can go on. */
export function throwIfEnded(record: TicketRecord): void {
  switch (record.state) {
    case "succeeded":
      throw new NoDataLeftError(record.ticket);
    case "cancelled":
      throw new JobCancelledError(record.ticket);
    case "failed": {
      const failure = record.failure as JobFailure;
      throw new JobFailedError(record.ticket, failure.code, failure.message);
    }
  }
}

export function snapshotOf(
  record: TicketRecord,
  expireTimeMs: number | undefined,
): TicketSnapshot {
  const { log } = record;
  return {
    ticket: record.ticket,
    kind: record.spec.kind,
    state: record.state,
    pushedCount: log.pushedCount,
    deliveredCount: log.deliveredCount,
    bufferedCount: log.bufferedCount,
    attempt: record.attempt,
    progress: record.progress,
    failure: record.failure,
    createTimeMs: record.createTimeMs,
    startTimeMs: record.startTimeMs,
    endTimeMs: record.endTimeMs,
    expireTimeMs,
  };
}
