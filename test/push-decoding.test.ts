import {
  create,
  equals,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { EncodedPayload } from "../src/core/payload-encoding.js";
import { payloadSize } from "../src/core/payload-size.js";
import { binaryPayload, jsonPayload, textPayload } from "../src/core/payloads.js";
import {
  PushRequestSchema,
  PushStreamRequestSchema,
} from "../src/gen/conductor/v1/conductor_pb.js";
import { type Payload, PayloadSchema } from "../src/gen/conductor/v1/payload_pb.js";
import { decodePushRequest } from "../src/service/push-decoding.js";

type Request = MessageInitShape<typeof PushStreamRequestSchema>;

const RESULTS: Payload[] = [
  binaryPayload(new Uint8Array([1, 2, 3])),
  textPayload("naïve ☃"),
  jsonPayload({ n: 1, nested: { list: [1, "two"] } }),
  create(PayloadSchema),
  binaryPayload(new Uint8Array(0)),
  binaryPayload(new Uint8Array(1000).fill(7)),
];

function encode(request: Request): Uint8Array {
  return toBinary(PushStreamRequestSchema, create(PushStreamRequestSchema, request));
}

/** Bytes of a request with a raw field appended: tag byte, then `body`. */
function withExtraField(request: Request, tag: number, body: number[]): Uint8Array {
  return new Uint8Array([...encode(request), tag, ...body]);
}

describe("decodePushRequest", () => {
  const requests: Record<string, Request> = {
    "every field": {
      ticket: 2n ** 64n - 1n,
      lease: "0123456789abcdef",
      results: RESULTS,
      progress: { done: 7n, total: 9n },
      firstSequence: 2n ** 40n,
    },
    "no fields": {},
    "results only": { results: RESULTS },
  };
  for (const [name, request] of Object.entries(requests)) {
    it(`decodes a request with ${name} as fromBinary does`, () => {
      const bytes = encode(request);

      const decoded = decodePushRequest(PushStreamRequestSchema, bytes);

      const expected = fromBinary(PushStreamRequestSchema, bytes);
      expect(decoded).toBeDefined();
      expect(equals(PushStreamRequestSchema, decoded!, expected)).toBe(true);
    });
  }

  it("decodes PushRequest too", () => {
    const init = { ticket: 5n, lease: "l", results: RESULTS, firstSequence: 3n };
    const bytes = toBinary(PushRequestSchema, create(PushRequestSchema, init));

    const decoded = decodePushRequest(PushRequestSchema, bytes);

    expect(decoded?.$typeName).toBe("conductor.v1.PushRequest");
    const expected = fromBinary(PushRequestSchema, bytes);
    expect(decoded).toBeDefined();
    expect(equals(PushRequestSchema, decoded!, expected)).toBe(true);
  });

  it("keeps where each payload lies in the request", () => {
    const bytes = encode({ ticket: 1n, lease: "l", results: RESULTS });

    const decoded = decodePushRequest(PushStreamRequestSchema, bytes);

    const kept = decoded?.results.map((payload) => {
      const length = EncodedPayload.encodedLength(payload);
      if (length === undefined) return undefined;
      const copy = new Uint8Array(length);
      EncodedPayload.copyEncoding(payload as EncodedPayload, copy, 0);
      return copy;
    });
    expect(kept).toEqual(RESULTS.map((payload) => toBinary(PayloadSchema, payload)));
  });

  it("measures payloads like fromBinary ones", () => {
    const bytes = encode({ results: RESULTS });

    const decoded = decodePushRequest(PushStreamRequestSchema, bytes);

    const expected = fromBinary(PushStreamRequestSchema, bytes).results.map(payloadSize);
    // JSON from a request counts its whole encoding: 2 header bytes more.
    expected[2] = (expected[2] as number) + 2;
    expect(decoded?.results.map(payloadSize)).toEqual(expected);
  });

  it("rejects changes to decoded payload data", () => {
    const decoded = decodePushRequest(
      PushStreamRequestSchema,
      encode({ results: RESULTS }),
    );
    const payload = decoded?.results[0] as Payload;

    expect(() => {
      payload.data = { case: "text", value: "changed" };
    }).toThrow(TypeError);
  });

  const declined: Record<string, Uint8Array> = {
    "an unknown field": withExtraField({ ticket: 1n }, (9 << 3) | 0, [1]),
    "a second progress": withExtraField({ progress: { done: 1n } }, (4 << 3) | 2, [0]),
    "a truncated payload": withExtraField({ ticket: 1n }, (3 << 3) | 2, [5, 0x0a]),
    "text that is not UTF-8": withExtraField({}, (3 << 3) | 2, [
      3,
      (3 << 3) | 2,
      1,
      0xff,
    ]),
    "a lease that is not UTF-8": withExtraField({}, (2 << 3) | 2, [2, 0xc3, 0x28]),
    "a payload with two fields": withExtraField({}, (3 << 3) | 2, [
      6,
      (1 << 3) | 2,
      1,
      0,
      (3 << 3) | 2,
      1,
      0x61,
    ]),
  };
  for (const [name, bytes] of Object.entries(declined)) {
    it(`leaves a request with ${name} to fromBinary`, () => {
      expect(decodePushRequest(PushStreamRequestSchema, bytes)).toBeUndefined();
    });
  }
});
