import { create } from "@bufbuild/protobuf";
import { type Duration, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "../core/errors.js";
import type { JobState, Progress, TicketSnapshot } from "../core/ticket-store.js";
import {
  type TicketStatus,
  TicketStatusSchema,
} from "../gen/conductor/v1/conductor_pb.js";
import {
  JobState as JobStateProto,
  ProgressSchema,
} from "../gen/conductor/v1/payload_pb.js";

const STATE_TO_PROTO: Record<JobState, JobStateProto> = {
  queued: JobStateProto.QUEUED,
  running: JobStateProto.RUNNING,
  succeeded: JobStateProto.SUCCEEDED,
  failed: JobStateProto.FAILED,
  cancelled: JobStateProto.CANCELLED,
};

export function stateToProto(state: JobState): JobStateProto {
  return STATE_TO_PROTO[state];
}

/** Maps a wire state to the core's; UNSPECIFIED becomes undefined. */
export function stateFromProto(state: JobStateProto): JobState | undefined {
  for (const [name, value] of Object.entries(STATE_TO_PROTO)) {
    if (value === state) return name as JobState;
  }
  if (state === JobStateProto.UNSPECIFIED) return undefined;
  throw new InvalidArgumentError("state", `state ${state} is not a JobState`);
}

export function progressToProto(progress: Progress | undefined) {
  return progress ? create(ProgressSchema, progress) : undefined;
}

export function snapshotToProto(snapshot: TicketSnapshot): TicketStatus {
  return create(TicketStatusSchema, {
    ticket: snapshot.ticket,
    kind: snapshot.kind,
    state: stateToProto(snapshot.state),
    pushedCount: snapshot.pushedCount,
    deliveredCount: snapshot.deliveredCount,
    bufferedCount: BigInt(snapshot.bufferedCount),
    attempt: snapshot.attempt,
    progress: progressToProto(snapshot.progress),
    error: snapshot.failure,
    createTime: timestampFromMs(snapshot.createTimeMs),
    startTime: optionalTimestamp(snapshot.startTimeMs),
    endTime: optionalTimestamp(snapshot.endTimeMs),
    expireTime: optionalTimestamp(snapshot.expireTimeMs),
  });
}

function optionalTimestamp(ms: number | undefined) {
  return ms === undefined ? undefined : timestampFromMs(ms);
}

/**
 * Converts a Duration field to milliseconds, rejecting negative values and
 * values above `maxMs`. An unset field is 0.
 */
export function durationToMs(
  field: string,
  duration: Duration | undefined,
  maxMs: number,
): number {
  if (!duration) return 0;
  const ms = Number(duration.seconds) * 1000 + duration.nanos / 1e6;
  if (!Number.isFinite(ms) || ms < 0 || Math.abs(duration.nanos) >= 1e9) {
    throw new InvalidArgumentError(
      field,
      `${field} must be a valid duration of 0 or more`,
    );
  }
  if (ms > maxMs) {
    throw new InvalidArgumentError(
      field,
      `${field} is ${ms} ms; the limit is ${maxMs} ms`,
    );
  }
  return ms;
}

/** Rejects the unset (zero) ticket, which no job ever has. */
export function requireTicket(ticket: bigint): bigint {
  if (ticket === 0n) {
    throw new InvalidArgumentError("ticket", "ticket must be set to a non-zero value");
  }
  return ticket;
}

/** Rejects an empty lease, which no attempt ever holds. */
export function requireLease(lease: string): string {
  if (lease.length === 0) {
    throw new InvalidArgumentError(
      "lease",
      "lease must be set to the lease of the job's current attempt",
    );
  }
  return lease;
}
