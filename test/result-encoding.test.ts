import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { binaryPayload, jsonPayload, textPayload } from "../src/core/payloads.js";
import { ResultLog } from "../src/core/result-log.js";
import type { StoredResults } from "../src/core/stored-results.js";
import {
  PullResponseSchema,
  PushStreamRequestSchema,
  SubscribeResponseSchema,
} from "../src/gen/conductor/v1/conductor_pb.js";
import {
  JobState,
  type Payload,
  PayloadSchema,
} from "../src/gen/conductor/v1/payload_pb.js";
import { decodePushRequest } from "../src/service/push-decoding.js";
import {
  encodePullResponse,
  encodeSubscribeResponse,
  pullResponse,
  subscribeResponse,
} from "../src/service/result-encoding.js";

const PAYLOADS: Record<string, Payload> = {
  binary: binaryPayload(new Uint8Array(300).fill(7)),
  "empty binary": binaryPayload(new Uint8Array(0)),
  "binary with a three-byte length": binaryPayload(new Uint8Array(16_384).fill(9)),
  text: textPayload("héllo wörld"),
  "text with a lone surrogate": textPayload("a\uD800b"),
  json: jsonPayload({ path: "a/b", size: 12, tags: ["x", null, true] }),
  "no data": create(PayloadSchema),
};

/** Encodes a PushStream request carrying `payloads`. */
function requestBytes(payloads: Payload[]): Buffer {
  const request = create(PushStreamRequestSchema, {
    ticket: 1n,
    lease: "l",
    results: payloads,
  });
  return Buffer.from(toBinary(PushStreamRequestSchema, request));
}

/** Decodes the payloads of a request with the fast decoder. */
function decoded(bytes: Uint8Array): Payload[] {
  const request = decodePushRequest(PushStreamRequestSchema, bytes);
  if (!request) throw new Error("the fast decoder declined a plain request");
  return request.results;
}

/** Stores `payloads` one push at a time and reads them all back. */
function stored(...pushes: Payload[][]): StoredResults {
  const log = new ResultLog({ results: 0, bytes: 0 });
  for (const payloads of pushes) log.append(payloads);
  return log.take(Number.POSITIVE_INFINITY);
}

/** Numbers `payloads` from sequence 1 as results for toBinary. */
function numbered(payloads: Payload[]) {
  return payloads.map((payload, i) => ({ sequence: BigInt(i + 1), payload }));
}

function subscribeBytes(response: MessageInitShape<typeof SubscribeResponseSchema>) {
  return Buffer.from(
    toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, response)),
  );
}

describe("encodeSubscribeResponse", () => {
  for (const [name, payload] of Object.entries(PAYLOADS)) {
    for (const [origin, value] of [
      ["built in process", payload],
      ["decoded from a request", decoded(requestBytes([payload]))[0] as Payload],
    ] as const) {
      it(`matches toBinary for a ${name} payload ${origin}`, () => {
        const results = stored([value, value]);

        const encoded = encodeSubscribeResponse(subscribeResponse(results, undefined));

        expect(encoded).toEqual(subscribeBytes({ results: numbered([value, value]) }));
      });
    }
  }

  it("matches toBinary for multi-byte sequences", () => {
    const payloads = Array.from({ length: 300 }, (_, i) => textPayload(`r${i}`));

    const encoded = encodeSubscribeResponse(
      subscribeResponse(stored(payloads), undefined),
    );

    expect(encoded).toEqual(subscribeBytes({ results: numbered(payloads) }));
  });

  it("matches toBinary for mixed results across chunks", () => {
    const kinds = [
      (i: number) => binaryPayload(Buffer.alloc(i % 50, i)),
      (i: number) => binaryPayload(Buffer.alloc(1_000 + (i % 100), i)),
      (i: number) => textPayload("t".repeat(i % 2_000)),
      (i: number) => jsonPayload({ i }),
    ];
    const payloads = Array.from({ length: 2_000 }, (_, i) =>
      (kinds[i % kinds.length] as (i: number) => Payload)(i),
    );

    const results = stored(...payloads.map((payload) => [payload]));

    expect(encodeSubscribeResponse(subscribeResponse(results, undefined))).toEqual(
      subscribeBytes({ results: numbered(payloads) }),
    );
  });

  it("matches toBinary for ranges of decoded pushes", () => {
    // Sizes around the copy limit and sequences past two varint bytes.
    const payloads = Array.from({ length: 17_000 }, (_, i) =>
      i % 7 === 0
        ? binaryPayload(Buffer.alloc(1_000 + (i % 40), i))
        : textPayload("x".repeat(i % 90)),
    );
    const log = new ResultLog({ results: 0, bytes: 0 });
    for (let first = 0, push = 1; first < payloads.length; push++) {
      const count = 1 + ((push * 37) % 300);
      const request = decoded(requestBytes(payloads.slice(first, first + count)));
      // Stored in two ranges, as a push that waited for room is.
      const split = (push * 13) % (request.length + 1);
      log.append(request, 0, split);
      log.append(request, split);
      first += count;
    }

    const results = log.take(Number.POSITIVE_INFINITY);

    const encoded = encodeSubscribeResponse(subscribeResponse(results, undefined));
    // Buffer#equals: a deep comparison of megabytes takes seconds.
    expect(subscribeBytes({ results: numbered(payloads) }).equals(encoded)).toBe(true);
  });

  it("matches toBinary with fields between payloads", () => {
    const payloads = ["a", "b", "c"].map((text) => textPayload(text.repeat(20)));
    const longLease = create(PushStreamRequestSchema, { lease: "l".repeat(200) });
    // Concatenated messages merge, so the lease lies between the payloads.
    const bytes = Buffer.concat([
      requestBytes(payloads.slice(0, 1)),
      toBinary(PushStreamRequestSchema, longLease),
      requestBytes(payloads.slice(1)),
    ]);

    const results = stored(decoded(bytes));

    expect(encodeSubscribeResponse(subscribeResponse(results, undefined))).toEqual(
      subscribeBytes({ results: numbered(payloads) }),
    );
  });

  it("matches toBinary with progress and no results", () => {
    const progress = { done: 3n, total: 10n };

    const encoded = encodeSubscribeResponse(subscribeResponse(stored(), progress));

    expect(encoded).toEqual(subscribeBytes({ results: [], progress }));
  });
});

describe("encodePullResponse", () => {
  for (const state of [JobState.UNSPECIFIED, JobState.RUNNING, JobState.CANCELLED]) {
    it(`matches toBinary with state ${JobState[state]}`, () => {
      const payload = PAYLOADS.text as Payload;

      const encoded = encodePullResponse(pullResponse(stored([payload]), state));

      const response = { results: numbered([payload]), state };
      const expected = toBinary(PullResponseSchema, create(PullResponseSchema, response));
      expect(encoded).toEqual(Buffer.from(expected));
    });
  }
});

describe("StoredResults.toArray", () => {
  for (const [name, payload] of Object.entries(PAYLOADS)) {
    it(`reads back a stored ${name} payload`, () => {
      const [result] = stored([payload]).toArray();

      expect(result?.sequence).toBe(1n);
      // Compared as bytes: a binary value comes back as a Buffer, and text
      // that UTF-8 cannot carry comes back as its replacement.
      const readBack = create(PayloadSchema, { data: result?.payload.data });
      expect(toBinary(PayloadSchema, readBack)).toEqual(toBinary(PayloadSchema, payload));
    });
  }

  it("keeps a small result after its request changes", () => {
    const bytes = requestBytes([textPayload("kept")]);
    const results = stored(decoded(bytes));

    bytes.fill(0);

    expect(results.toArray()[0]?.payload.data).toEqual({ case: "text", value: "kept" });
  });
});
