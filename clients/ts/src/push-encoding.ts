import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { PushPipelineRequestSchema } from "./gen/conductor/v1/conductor_pb.js";
import { type Payload, ProgressSchema } from "./gen/conductor/v1/payload_pb.js";

type PushPipelineRequest = MessageInitShape<typeof PushPipelineRequestSchema>;

/** Tags of PushPipelineRequest's fields. */
const TICKET_TAG = (1 << 3) | WireType.Varint;
const LEASE_TAG = (2 << 3) | WireType.LengthDelimited;
const RESULT_TAG = (3 << 3) | WireType.LengthDelimited;
const PROGRESS_TAG = (4 << 3) | WireType.LengthDelimited;
const FIRST_SEQUENCE_TAG = (5 << 3) | WireType.Varint;
/** Tags of the fields of Payload's data oneof. */
const DATA_TAGS = {
  binary: (1 << 3) | WireType.LengthDelimited,
  json: (2 << 3) | WireType.LengthDelimited,
  text: (3 << 3) | WireType.LengthDelimited,
} as const;

/**
 * Encodes a PushPipelineRequest into the bytes toBinary would produce.
 * protobuf-es's generic encoder copies every nested message once per
 * level, which made it the largest busy item in the profile of a runner
 * that pushes small results. This writes each payload straight into one
 * buffer.
 */
export function encodePushPipelineRequest(request: PushPipelineRequest): Uint8Array {
  const results = (request.results ?? []) as readonly Payload[];
  const values = results.map(valueBytes);
  const lease = request.lease ? Buffer.from(request.lease, "utf8") : undefined;
  const progress = request.progress
    ? toBinary(ProgressSchema, create(ProgressSchema, request.progress))
    : undefined;
  const ticket = BigInt(request.ticket ?? 0n);
  const firstSequence = BigInt(request.firstSequence ?? 0n);

  let size = 0;
  if (ticket !== 0n) size += 1 + bigVarintSize(ticket);
  if (lease) size += fieldSize(lease.byteLength);
  for (const value of values) size += fieldSize(payloadSize(value));
  if (progress) size += fieldSize(progress.byteLength);
  if (firstSequence !== 0n) size += 1 + bigVarintSize(firstSequence);

  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  if (ticket !== 0n) {
    out[offset++] = TICKET_TAG;
    offset = writeBigVarint(out, offset, ticket);
  }
  if (lease) offset = writeField(out, offset, LEASE_TAG, lease);
  for (const value of values) {
    out[offset++] = RESULT_TAG;
    offset = writeVarint(out, offset, payloadSize(value));
    if (value) offset = writeField(out, offset, DATA_TAGS[value.case], value.bytes);
  }
  if (progress) offset = writeField(out, offset, PROGRESS_TAG, progress);
  if (firstSequence !== 0n) {
    out[offset++] = FIRST_SEQUENCE_TAG;
    offset = writeBigVarint(out, offset, firstSequence);
  }
  return out;
}

/** The set field of a payload and its encoded value, or undefined when none is set. */
type Value = { case: keyof typeof DATA_TAGS; bytes: Uint8Array } | undefined;

function valueBytes(payload: Payload): Value {
  const data = payload.data;
  switch (data.case) {
    case "binary":
      return { case: "binary", bytes: data.value };
    case "text":
      return { case: "text", bytes: Buffer.from(data.value, "utf8") };
    case "json":
      return { case: "json", bytes: toBinary(ValueSchema, data.value) };
    default:
      return undefined;
  }
}

/** Encoded size of a Payload message's body. */
function payloadSize(value: Value): number {
  return value ? fieldSize(value.bytes.byteLength) : 0;
}

/** Size of a length-delimited field with a one-byte tag and a body of `length` bytes. */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function writeField(out: Buffer, offset: number, tag: number, body: Uint8Array): number {
  out[offset++] = tag;
  offset = writeVarint(out, offset, body.byteLength);
  out.set(body, offset);
  return offset + body.byteLength;
}

/** Bytes a length (below 2^32) takes as a varint. */
function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value >>>= 7;
    size += 1;
  }
  return size;
}

function writeVarint(out: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[offset++] = value;
  return offset;
}

function bigVarintSize(value: bigint): number {
  let size = 1;
  while (value >= 0x80n) {
    value >>= 7n;
    size += 1;
  }
  return size;
}

function writeBigVarint(out: Buffer, offset: number, value: bigint): number {
  while (value >= 0x80n) {
    out[offset++] = Number(value & 0x7fn) | 0x80;
    value >>= 7n;
  }
  out[offset++] = Number(value);
  return offset;
}
