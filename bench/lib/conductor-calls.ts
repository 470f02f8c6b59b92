import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  PushStreamResponseSchema,
  SubscribeRequestSchema,
} from "../../src/gen/conductor/v1/conductor_pb.js";
import type { Child } from "./child.js";
import { binaryPayloads, countResults, encodePushStreamRequest } from "./messages.js";
import type { RawClient } from "./raw-client.js";

/** Method paths of conductor.v1.ConductorService. */
export const CONDUCTOR_PATHS = {
  pushStream: "/conductor.v1.ConductorService/PushStream",
  pull: "/conductor.v1.ConductorService/Pull",
  subscribe: "/conductor.v1.ConductorService/Subscribe",
} as const;

/** The ticket and lease of a running job, as a runner holds them. */
export interface LeasedJob {
  readonly ticket: bigint;
  readonly lease: string;
}

/** Creates a running job in the server process and returns its lease. */
export function leasedJob(server: Child): Promise<LeasedJob> {
  return server.request<LeasedJob>("job");
}

/** Finishes a job with success through the server process. */
export function finishJob(server: Child, job: LeasedJob): Promise<void> {
  return server.request("finish", job);
}

/**
 * Pushes `count` results of `sizeBytes` bytes over one PushStream,
 * `perMessage` results to a message, and returns the stored count the
 * server reports.
 */
export async function pushResults(
  client: RawClient,
  job: LeasedJob,
  count: number,
  perMessage: number,
  sizeBytes: number,
): Promise<bigint> {
  const payloads = binaryPayloads(perMessage, sizeBytes);
  const full = encodePushStreamRequest(job.ticket, job.lease, payloads);
  const writer = client.clientStream(CONDUCTOR_PATHS.pushStream);
  for (let sent = 0; sent < count; sent += perMessage) {
    const size = Math.min(perMessage, count - sent);
    const message =
      size === perMessage
        ? full
        : encodePushStreamRequest(job.ticket, job.lease, payloads.slice(0, size));
    await writer.write(message);
  }
  const response = fromBinary(PushStreamResponseSchema, await writer.end());
  return response.storedCount;
}

/**
 * Creates a running job, pushes `count` results to it as pushResults does
 * and finishes it, so that a Subscribe reads them as a backlog.
 */
export async function finishedBacklog(
  server: Child,
  client: RawClient,
  count: number,
  perMessage: number,
  sizeBytes: number,
): Promise<LeasedJob> {
  const job = await leasedJob(server);
  await pushResults(client, job, count, perMessage, sizeBytes);
  await finishJob(server, job);
  return job;
}

/** Counts of what one stream delivered. */
export interface StreamCounts {
  results: number;
  messages: number;
}

/** Subscribes to `ticket` and counts results and messages until the stream ends. */
export async function subscribeAndCount(
  client: RawClient,
  ticket: bigint,
): Promise<StreamCounts> {
  const request = toBinary(
    SubscribeRequestSchema,
    create(SubscribeRequestSchema, { ticket }),
  );
  return countStream(client, CONDUCTOR_PATHS.subscribe, request);
}

/** Reads a server stream to its end and counts its results and messages. */
export async function countStream(
  client: RawClient,
  path: string,
  request: Uint8Array,
): Promise<StreamCounts> {
  const counts: StreamCounts = { results: 0, messages: 0 };
  await client.serverStream(path, request, (message) => {
    counts.results += countResults(message);
    counts.messages += 1;
  });
  return counts;
}

/** Reads a ticket to its end with Subscribe and checks that `count` results came. */
export async function subscribeAll(
  client: RawClient,
  ticket: bigint,
  count: number,
): Promise<void> {
  expectResults(await subscribeAndCount(client, ticket), count, "Subscribe");
}

/** Throws unless a Subscribe delivered `count` results, each in its own message. */
export function expectOnePerMessage(counts: StreamCounts, count: number): void {
  expectResults(counts, count, "Subscribe");
  if (counts.messages !== count) {
    throw new Error(
      `${counts.messages} messages carried ${count} results; expected one each`,
    );
  }
}

/** Throws when a stream delivered another number of results than expected. */
export function expectResults(
  counts: StreamCounts,
  expected: number,
  what: string,
): void {
  if (counts.results !== expected) {
    throw new Error(`${what} delivered ${counts.results} results; expected ${expected}`);
  }
}
