import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { StoredResults } from "../core/stored-results.js";
import type { Progress } from "../core/ticket-store.js";
import { varintSize, writeVarint } from "../core/varint.js";
import {
  PullResponseSchema,
  SubscribeResponseSchema,
} from "../gen/conductor/v1/conductor_pb.js";
import { type JobState, ProgressSchema } from "../gen/conductor/v1/payload_pb.js";

/**
 * Encoders of the messages that carry results. The store keeps results in
 * the bytes these messages carry them in (see stored-results.ts), so a
 * response is those bytes copied, followed by its other field. For results
 * whose payloads are in canonical encoding the output is the bytes
 * toBinary would produce.
 */

type SubscribeResponseInit = MessageInitShape<typeof SubscribeResponseSchema>;
type PullResponseInit = MessageInitShape<typeof PullResponseSchema>;

/**
 * Key of the stored results in a response made by subscribeResponse or
 * pullResponse. A symbol key is invisible to protobuf-es and to the
 * message's type, so the handler can return the response as a message
 * while the encoder reads the results' bytes.
 */
const STORED_RESULTS = Symbol("stored results");

interface WithStoredResults {
  readonly [STORED_RESULTS]?: StoredResults;
}

/** Field 2 of SubscribeResponse: Progress progress. */
const PROGRESS_TAG = (2 << 3) | WireType.LengthDelimited;
/** Field 2 of PullResponse: JobState state. */
const STATE_TAG = 2 << 3;

/** Makes a SubscribeResponse of stored results for encodeSubscribeResponse. */
export function subscribeResponse(
  results: StoredResults,
  progress: Progress | undefined,
): SubscribeResponseInit {
  const response: SubscribeResponseInit & WithStoredResults = {
    progress,
    [STORED_RESULTS]: results,
  };
  return response;
}

/** Makes a PullResponse of stored results for encodePullResponse. */
export function pullResponse(results: StoredResults, state: JobState): PullResponseInit {
  const response: PullResponseInit & WithStoredResults = {
    state,
    [STORED_RESULTS]: results,
  };
  return response;
}

/** Encodes a SubscribeResponse. */
export function encodeSubscribeResponse(response: SubscribeResponseInit): Uint8Array {
  const stored = (response as WithStoredResults)[STORED_RESULTS];
  if (!stored)
    return toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, response));
  let tail: Uint8Array | undefined;
  if (response.progress) {
    const progress = toBinary(ProgressSchema, create(ProgressSchema, response.progress));
    tail = lengthDelimited(PROGRESS_TAG, progress);
  }
  return withTail(stored, tail);
}

/** Encodes a PullResponse. */
export function encodePullResponse(response: PullResponseInit): Uint8Array {
  const stored = (response as WithStoredResults)[STORED_RESULTS];
  if (!stored) return toBinary(PullResponseSchema, create(PullResponseSchema, response));
  const state = response.state ?? 0;
  let tail: Uint8Array | undefined;
  if (state !== 0) {
    tail = new Uint8Array(1 + varintSize(state));
    tail[0] = STATE_TAG;
    writeVarint(tail, 1, state);
  }
  return withTail(stored, tail);
}

/** Returns the bytes of `results` followed by `tail`. */
function withTail(results: StoredResults, tail: Uint8Array | undefined): Uint8Array {
  const out = Buffer.allocUnsafe(results.byteLength + (tail?.byteLength ?? 0));
  const offset = results.copyTo(out, 0);
  if (tail) out.set(tail, offset);
  return out;
}

function lengthDelimited(tag: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintSize(body.byteLength) + body.byteLength);
  out[0] = tag;
  out.set(body, writeVarint(out, 1, body.byteLength));
  return out;
}
