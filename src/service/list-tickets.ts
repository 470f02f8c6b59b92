import type { Conductor } from "../core/conductor.js";
import { InvalidArgumentError } from "../core/errors.js";
import type { ListTicketsRequest } from "../gen/conductor/v1/conductor_pb.js";
import type { ConductorServiceImplementation } from "./conductor-service.js";
import { snapshotToProto, stateFromProto } from "./convert.js";

/** Tickets on a page when the request leaves page_size unset. */
const DEFAULT_PAGE_SIZE = 100;

/** Prefix of the text inside a page token, before the ticket. */
const TOKEN_PREFIX = "before:";

/**
 * Implements ListTickets one page at a time. The next page token encodes
 * the last ticket of the page, and the store lists the tickets created
 * before it, so paging stays stable while tickets come and go. A token is
 * set only when at least one more ticket matches.
 */
export function listTicketsMethod(
  conductor: Conductor,
  maxPageSize: number,
): ConductorServiceImplementation["listTickets"] {
  return async (request: ListTicketsRequest) => {
    const pageSize = pageSizeOf(request.pageSize, maxPageSize);
    // One ticket more than the page shows whether another page exists.
    const snapshots = await conductor.list({
      state: stateFromProto(request.state),
      kind: request.kind || undefined,
      limit: pageSize + 1,
      before: parsePageToken(request.pageToken),
    });
    const page = snapshots.slice(0, pageSize);
    const last = page.at(-1);
    const hasMore = snapshots.length > pageSize && last !== undefined;
    return {
      tickets: page.map(snapshotToProto),
      nextPageToken: hasMore ? pageToken(last.ticket) : "",
    };
  };
}

function pageSizeOf(pageSize: number, max: number): number {
  if (pageSize > max) {
    throw new InvalidArgumentError(
      "page_size",
      `page_size is ${pageSize}; the limit is ${max}`,
    );
  }
  return pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize;
}

function pageToken(ticket: bigint): string {
  return Buffer.from(`${TOKEN_PREFIX}${ticket}`).toString("base64url");
}

/** Returns the ticket a page token encodes; undefined for an empty token. */
function parsePageToken(token: string): bigint | undefined {
  if (token === "") return undefined;
  const text = Buffer.from(token, "base64url").toString("latin1");
  const digits = text.startsWith(TOKEN_PREFIX) ? text.slice(TOKEN_PREFIX.length) : "";
  if (!/^\d{1,20}$/.test(digits) || BigInt(digits) >= 2n ** 64n) {
    throw new InvalidArgumentError(
      "page_token",
      `page_token "${token}" is not a next_page_token from ListTickets`,
    );
  }
  return BigInt(digits);
}
