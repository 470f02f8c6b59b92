import { create, toBinary } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../core/errors.js";
import {
  type ListRunnersRequest,
  type ListRunnersResponse,
  ListRunnersResponseSchema,
  type RunnerInfo,
  RunnerInfoSchema,
} from "../gen/conductor/v1/runner_pb.js";
import type { RunnerConnection } from "./runner-connection.js";

/**
 * Encoded size a ListRunners response stays under, in bytes: a quarter of
 * the 4 MiB that gRPC clients accept by default. One runner takes at most
 * about 26 KB (64 kinds of 128 characters and a name of 256, at 3 bytes a
 * character), so a page has room for at least 40 runners.
 */
export const MAX_LIST_RUNNERS_BYTES = 1 << 20;

/** Bytes of a field tag, a length and the next page token, at most. */
const ENTRY_OVERHEAD_BYTES = 6;
const TOKEN_OVERHEAD_BYTES = 24;

/**
 * Builds one page of ListRunners from `runners`, which must come in
 * registration order. A page holds the runners registered after the one
 * `page_token` names, at most `page_size` of them when that is set, and no
 * more than fit MAX_LIST_RUNNERS_BYTES (always at least one). Runners that
 * disconnect between pages are skipped and runners that connect appear on
 * later pages, so a listing never repeats a runner. Throws
 * InvalidArgumentError for a malformed page token.
 */
export function listRunnersPage(
  runners: Iterable<RunnerConnection>,
  request: ListRunnersRequest,
): ListRunnersResponse {
  const after = parsePageToken(request.pageToken);
  const limit = request.pageSize || Number.POSITIVE_INFINITY;
  const page: RunnerInfo[] = [];
  let bytes = TOKEN_OVERHEAD_BYTES;
  let last: RunnerConnection | undefined;
  let more = false;
  for (const runner of runners) {
    if (runner.sequence <= after) continue;
    const info = runner.info();
    const size = toBinary(RunnerInfoSchema, info).byteLength + ENTRY_OVERHEAD_BYTES;
    const full = page.length >= limit || bytes + size > MAX_LIST_RUNNERS_BYTES;
    if (page.length > 0 && full) {
      more = true;
      break;
    }
    page.push(info);
    bytes += size;
    last = runner;
  }
  return create(ListRunnersResponseSchema, {
    runners: page,
    nextPageToken: more && last ? String(last.sequence) : "",
  });
}

/** Returns the registration sequence a page token names; 0 for none. */
function parsePageToken(token: string): number {
  if (token === "") return 0;
  const sequence = /^[1-9]\d{0,14}$/.test(token) ? Number(token) : Number.NaN;
  if (!Number.isSafeInteger(sequence)) {
    throw new InvalidArgumentError(
      "page_token",
      `page_token ${JSON.stringify(token.slice(0, 64))} is not a token from ListRunners; pass next_page_token of the previous response, or nothing for the first page`,
    );
  }
  return sequence;
}
