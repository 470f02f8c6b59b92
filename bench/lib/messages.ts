import { create, toBinary } from "@bufbuild/protobuf";
import {
  PullRequestSchema,
  PullResponseSchema,
  PushStreamRequestSchema,
  SubscribeResponseSchema,
} from "../../src/gen/conductor/v1/conductor_pb.js";
import {
  JobState,
  type Payload,
  PayloadSchema,
  type Result,
  ResultSchema,
} from "../../src/gen/conductor/v1/payload_pb.js";

/**
 * Builds `count` binary payloads of `sizeBytes` bytes each. Every payload
 * has its own bytes, as payloads decoded from separate messages would.
 */
export function binaryPayloads(count: number, sizeBytes: number): Payload[] {
  return Array.from({ length: count }, (_, i) => {
    const bytes = new Uint8Array(sizeBytes).fill(i & 0xff);
    return create(PayloadSchema, { data: { case: "binary", value: bytes } });
  });
}

/** Encodes one PushStreamRequest carrying `payloads`. */
export function encodePushStreamRequest(
  ticket: bigint,
  lease: string,
  payloads: readonly Payload[],
): Uint8Array {
  const request = create(PushStreamRequestSchema, {
    ticket,
    lease,
    results: [...payloads],
  });
  return toBinary(PushStreamRequestSchema, request);
}

/** Encodes a PullRequest the way a client asks for `maxResults`. */
export function encodePullRequest(ticket: bigint, maxResults: number): Uint8Array {
  return toBinary(PullRequestSchema, create(PullRequestSchema, { ticket, maxResults }));
}

/** Encodes the PullResponse that carries `results` of a running job. */
export function encodePullResponse(results: Result[]): Uint8Array {
  const response = create(PullResponseSchema, { results, state: JobState.RUNNING });
  return toBinary(PullResponseSchema, response);
}

/**
 * Encodes the SubscribeResponse messages that carry results 1 to `count`
 * of `sizeBytes` bytes, `perMessage` results to a message: the bytes a
 * subscriber receives from conductor with that batching.
 */
export function encodeSubscribeResponses(
  count: number,
  perMessage: number,
  sizeBytes: number,
): Uint8Array[] {
  const results = numberedResults(count, sizeBytes);
  const messages: Uint8Array[] = [];
  for (let first = 0; first < count; first += perMessage) {
    const response = create(SubscribeResponseSchema, {
      results: results.slice(first, first + perMessage),
    });
    messages.push(toBinary(SubscribeResponseSchema, response));
  }
  return messages;
}

/** Results with sequences 1 to `count` and binary payloads of `sizeBytes`. */
export function numberedResults(count: number, sizeBytes: number): Result[] {
  return binaryPayloads(count, sizeBytes).map((payload, i) =>
    create(ResultSchema, { sequence: BigInt(i + 1), payload }),
  );
}

/**
 * Counts the results in an encoded SubscribeResponse or PullResponse
 * (field 1 of both) without decoding them, so that the client spends as
 * little time per message as a client can.
 */
export function countResults(message: Uint8Array): number {
  let offset = 0;
  let count = 0;
  while (offset < message.length) {
    let tag = 0;
    [tag, offset] = readVarint(message, offset);
    const wireType = tag & 7;
    if (wireType === 0) {
      [, offset] = readVarint(message, offset);
      continue;
    }
    if (wireType !== 2) throw new Error(`unexpected wire type ${wireType}`);
    let length = 0;
    [length, offset] = readVarint(message, offset);
    offset += length;
    if (tag >>> 3 === 1) count += 1;
  }
  return count;
}

function readVarint(bytes: Uint8Array, start: number): [number, number] {
  let value = 0;
  let shift = 0;
  let offset = start;
  for (;;) {
    const byte = bytes[offset++];
    if (byte === undefined) throw new Error("truncated varint");
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, offset];
    shift += 7;
  }
}
