import { create } from "@bufbuild/protobuf";
import type { CallContext, ServiceImplementation } from "nice-grpc";
import type { Conductor } from "../core/conductor.js";
import { InvalidArgumentError } from "../core/errors.js";
import type { PushResult } from "../core/ticket-store.js";
import {
  ConductorService,
  type PushPipelineRequest,
  PushPipelineRequestSchema,
  type PushRequest,
  PushRequestSchema,
  type PushStreamRequest,
  PushStreamRequestSchema,
} from "../gen/conductor/v1/conductor_pb.js";
import { PayloadSchema } from "../gen/conductor/v1/payload_pb.js";
import {
  durationToMs,
  requireLease,
  requireTicket,
  snapshotToProto,
  stateToProto,
} from "./convert.js";
import { type ServiceDefinitionOf, serviceDefinition } from "./definition.js";
import { listTicketsMethod } from "./list-tickets.js";
import { decodePushRequest } from "./push-decoding.js";
import {
  encodePullResponse,
  encodeSubscribeResponse,
  pullResponse,
  subscribeResponse,
} from "./result-encoding.js";

export const conductorDefinition = serviceDefinition(ConductorService, {
  push: { decodeRequest: (bytes) => decodePushRequest(PushRequestSchema, bytes) },
  pushStream: {
    decodeRequest: (bytes) => decodePushRequest(PushStreamRequestSchema, bytes),
  },
  pushPipeline: {
    decodeRequest: (bytes) => decodePushRequest(PushPipelineRequestSchema, bytes),
  },
  pull: { encodeResponse: encodePullResponse },
  subscribe: { encodeResponse: encodeSubscribeResponse },
});

type Methods = (typeof ConductorService)["method"];
export type ConductorServiceImplementation = ServiceImplementation<
  ServiceDefinitionOf<Methods>
>;

/** Request limits of the conductor service. */
export interface ServiceLimits {
  /** Most results one Pull returns. */
  readonly maxPullResults: number;
  /** Maximum wait one Pull may request, in milliseconds. */
  readonly maxWaitMs: number;
  /** Maximum results in one Subscribe message. */
  readonly maxBatchResults: number;
  /** Payload bytes after which a Subscribe or Pull response takes no more results. */
  readonly maxBatchBytes: number;
  /** Most tickets one ListTickets returns. */
  readonly maxPageSize: number;
}

export const DEFAULT_LIMITS: ServiceLimits = {
  maxPullResults: 1000,
  maxWaitMs: 60_000,
  maxBatchResults: 256,
  maxBatchBytes: 1 << 20,
  maxPageSize: 1000,
};

/** Implements ConductorService on top of a Conductor. */
export function conductorService(
  conductor: Conductor,
  limits: ServiceLimits = DEFAULT_LIMITS,
): ConductorServiceImplementation {
  return {
    async exec(request) {
      const input = request.input ?? create(PayloadSchema);
      const ticket = await conductor.exec(request.kind, input, {
        maxRetries: request.maxRetries,
      });
      return { ticket };
    },

    async push(request, context) {
      const { lastSequence } = await pushOne(conductor, request, context.signal);
      return { lastSequence };
    },

    async pushStream(requests, context) {
      return pushAll(conductor, requests, context);
    },

    async *pushPipeline(requests, context) {
      // The next request is read only once this one is stored and its
      // response written, so a full buffer stops the reads.
      // NOTE: grpc-js rejects a message over the size limit by itself and
      // ends the call, while an earlier message may still wait for room
      // here. The response written for that one afterwards meets an ended
      // stream, and a tester saw the client then get no status at all in
      // some runs. The TypeScript SDK never sends such a message.
      for await (const request of requests) {
        const { lastSequence } = await pushOne(conductor, request, context.signal);
        yield { lastSequence };
      }
    },

    async pull(request, context) {
      const maxResults = countField(
        "max_results",
        request.maxResults,
        1,
        limits.maxPullResults,
      );
      const waitMs = durationToMs("wait", request.wait, limits.maxWaitMs);
      const batch = await conductor.pull(requireTicket(request.ticket), {
        afterSequence: request.afterSequence,
        maxResults,
        maxBytes: limits.maxBatchBytes,
        waitMs,
        // A Pull that does not wait has nothing to abort, and reading the
        // signal makes one for the call (see GatedCall).
        signal: waitMs > 0 ? context.signal : undefined,
      });
      return pullResponse(batch.results, stateToProto(batch.state));
    },

    async *subscribe(request, context) {
      const reads = conductor.subscribe(requireTicket(request.ticket), {
        afterSequence: request.afterSequence,
        maxResults: limits.maxBatchResults,
        maxBytes: limits.maxBatchBytes,
        signal: context.signal,
      });
      let progressVersion = 0;
      for (let batch = await reads.next(); batch; batch = await reads.next()) {
        const progressChanged = batch.progressVersion !== progressVersion;
        progressVersion = batch.progressVersion;
        yield subscribeResponse(
          batch.results,
          progressChanged ? batch.progress : undefined,
        );
      }
    },

    async cancel(request) {
      const state = await conductor.cancel(requireTicket(request.ticket));
      return { state: stateToProto(state) };
    },

    async getStatus(request) {
      const snapshot = await conductor.status(requireTicket(request.ticket));
      return { status: snapshotToProto(snapshot) };
    },

    listTickets: listTicketsMethod(conductor, limits.maxPageSize),
  };
}

/**
 * Stores each message of a push stream before reading the next, so a full
 * buffer stops the reads and HTTP/2 flow control slows the sender.
 */
async function pushAll(
  conductor: Conductor,
  requests: AsyncIterable<PushStreamRequest>,
  context: CallContext,
) {
  let lastSequence = 0n;
  let storedCount = 0n;
  for await (const request of requests) {
    const stored = await pushOne(conductor, request, context.signal);
    lastSequence = stored.lastSequence;
    storedCount += BigInt(stored.storedCount);
  }
  return { lastSequence, storedCount };
}

/** Stores the results of one Push, PushStream or PushPipeline message. */
function pushOne(
  conductor: Conductor,
  request: PushRequest | PushStreamRequest | PushPipelineRequest,
  signal: AbortSignal,
): Promise<PushResult> {
  return conductor.push(
    requireTicket(request.ticket),
    requireLease(request.lease),
    request.results,
    {
      progress: request.progress,
      firstSequence: request.firstSequence || undefined,
      signal,
    },
  );
}

/** Reads a count field: `fallback` when 0, rejected above `max`. */
function countField(field: string, value: number, fallback: number, max: number): number {
  if (value > max) {
    throw new InvalidArgumentError(field, `${field} is ${value}; the limit is ${max}`);
  }
  return value === 0 ? fallback : value;
}
