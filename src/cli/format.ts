import { toJson } from "@bufbuild/protobuf";
import { type Timestamp, timestampMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Status } from "nice-grpc";
import type { TicketStatus } from "../gen/conductor/v1/conductor_pb.js";
import {
  JobState,
  type Payload,
  type Progress,
  type Result,
} from "../gen/conductor/v1/payload_pb.js";

/** Returns the lower-case name of a job state, such as "running". */
export function stateName(state: JobState): string {
  const name = JobState[state] ?? String(state);
  return name.toLowerCase();
}

/**
 * Control characters (C0, DEL, C1), line and paragraph separators, and the
 * Unicode bidirectional controls, which can reorder the text a terminal
 * shows.
 */
const UNSAFE_CHARACTERS = /[\p{Cc}\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/**
 * Returns `text` with every character that could move the cursor, change
 * the terminal's state or break a line replaced by an escape: \n, \r, \t,
 * \xHH or \uHHHH. Applied to every server-provided string in human-readable
 * output. Backslashes are kept as they are, so an escape and the same text
 * typed literally look alike.
 */
export function escapeControlCharacters(text: string): string {
  return text.replace(UNSAFE_CHARACTERS, (character) => {
    const short = SHORT_ESCAPES[character];
    if (short !== undefined) return short;
    const code = character.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/**
 * Formats a payload on one line: JSON as compact JSON, text with control
 * characters escaped, bytes as base64.
 */
export function formatPayload(payload: Payload | undefined): string {
  const data = payload?.data;
  switch (data?.case) {
    case "json":
      return JSON.stringify(toJson(ValueSchema, data.value));
    case "text":
      return escapeControlCharacters(data.value);
    case "binary":
      return `(${data.value.byteLength} bytes) ${Buffer.from(data.value).toString("base64")}`;
    default:
      return "(empty)";
  }
}

/** Formats a result on one line: "#sequence payload". */
export function formatResult(result: Result): string {
  return `#${result.sequence} ${formatPayload(result.payload)}`;
}

/** "done/total (percent%)", or "done done" when the total is unknown. */
export function formatProgress(progress: Progress | undefined): string {
  if (!progress) return "-";
  const { done, total } = progress;
  if (total === 0n) return `${done} done`;
  return `${done}/${total} (${percent(done, total)}%)`;
}

/** Whole percent of `done` in `total`, at most 100; total must not be 0. */
export function percent(done: bigint, total: bigint): number {
  const value = Number((done * 100n) / total);
  return Math.min(100, value);
}

/** Formats a duration as its two largest units: "45s", "3m12s", "2h05m", "3d04h". */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${pad2(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h${pad2(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d${pad2(hours % 24)}h`;
}

function pad2(value: number): string {
  return String(value).padStart(2, "0");
}

/** Rows as columns padded to their widest cell; the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  const lines = rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  "),
  );
  return `${lines.join("\n")}\n`;
}

/** Formats a ticket's status as aligned "name value" lines. */
export function formatStatus(status: TicketStatus, nowMs: number): string {
  const rows: [string, string][] = [
    ["ticket", String(status.ticket)],
    ["kind", escapeControlCharacters(status.kind)],
    ["state", `${stateName(status.state)} (attempt ${status.attempt})`],
    [
      "results",
      `${status.pushedCount} pushed, ${status.deliveredCount} delivered, ` +
        `${status.bufferedCount} buffered`,
    ],
    ["progress", formatProgress(status.progress)],
  ];
  if (status.error) {
    const code = Status[status.error.code] ?? String(status.error.code);
    rows.push(["error", `${code}: ${escapeControlCharacters(status.error.message)}`]);
  }
  const times: [string, Timestamp | undefined][] = [
    ["created", status.createTime],
    ["started", status.startTime],
    ["ended", status.endTime],
    ["expires", status.expireTime],
  ];
  for (const [name, time] of times) {
    if (time) rows.push([name, formatTime(time, nowMs)]);
  }
  return formatTable(rows);
}

/** Formats a time as ISO 8601 with how long ago, or how soon, it is. */
function formatTime(time: Timestamp, nowMs: number): string {
  const ms = timestampMs(time);
  const iso = new Date(ms).toISOString();
  const relative =
    ms <= nowMs ? `${formatAge(nowMs - ms)} ago` : `in ${formatAge(ms - nowMs)}`;
  return `${iso} (${relative})`;
}
