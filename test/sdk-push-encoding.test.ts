import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { PushPipelineRequestSchema } from "../clients/ts/src/gen/conductor/v1/conductor_pb.js";
import { PayloadSchema } from "../clients/ts/src/gen/conductor/v1/payload_pb.js";
import { binaryPayload, jsonPayload, textPayload } from "../clients/ts/src/payloads.js";
import { encodePushPipelineRequest } from "../clients/ts/src/push-encoding.js";

type Request = MessageInitShape<typeof PushPipelineRequestSchema>;

const RESULTS = [
  binaryPayload(new Uint8Array([1, 2, 3])),
  binaryPayload(new Uint8Array(300).fill(9)),
  textPayload("naïve ☃"),
  jsonPayload({ n: 1, nested: { list: [1, "two"] } }),
  create(PayloadSchema),
  binaryPayload(new Uint8Array(0)),
];

describe("encodePushPipelineRequest", () => {
  const requests: Record<string, Request> = {
    "every field": {
      ticket: 2n ** 64n - 1n,
      lease: "0123456789abcdef",
      results: RESULTS,
      progress: { done: 7n, total: 9n },
      firstSequence: 2n ** 40n,
    },
    "no fields": {},
    "progress only": { ticket: 5n, lease: "l", progress: { done: 1n } },
    "a result of 200 KiB": {
      ticket: 1n,
      lease: "l",
      results: [binaryPayload(new Uint8Array(200 * 1024).fill(3))],
    },
  };
  for (const [name, request] of Object.entries(requests)) {
    it(`encodes a request with ${name} as toBinary does`, () => {
      const encoded = encodePushPipelineRequest(request);

      const expected = toBinary(
        PushPipelineRequestSchema,
        create(PushPipelineRequestSchema, request),
      );
      expect(Buffer.from(encoded).equals(Buffer.from(expected))).toBe(true);
    });
  }
});
