import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { binaryPayload, jsonPayload, textPayload } from "../src/core/payloads.js";
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

/** A payload as a request carries it, decoded by the fast decoder. */
function decodedPayload(payload: Payload): Payload {
  const bytes = toBinary(
    PushStreamRequestSchema,
    create(PushStreamRequestSchema, { ticket: 1n, lease: "l", results: [payload] }),
  );
  const request = decodePushRequest(PushStreamRequestSchema, bytes);
  if (!request) throw new Error("the fast decoder declined a plain request");
  return request.results[0] as Payload;
}

describe("encodeSubscribeResponse", () => {
  for (const [name, payload] of Object.entries(PAYLOADS)) {
    for (const [origin, value] of [
      ["built in process", payload],
      ["decoded from a request", decodedPayload(payload)],
    ] as const) {
      it(`matches toBinary for a ${name} payload ${origin}`, () => {
        const response = {
          results: [
            { sequence: 1n, payload: value },
            { sequence: 2n ** 40n, payload: value },
          ],
        };

        const expected = toBinary(
          SubscribeResponseSchema,
          create(SubscribeResponseSchema, response),
        );
        expect(encodeSubscribeResponse(response)).toEqual(Buffer.from(expected));
      });
    }
  }

  it("matches toBinary with progress and no results", () => {
    const response: MessageInitShape<typeof SubscribeResponseSchema> = {
      results: [],
      progress: { done: 3n, total: 10n },
    };

    const expected = toBinary(
      SubscribeResponseSchema,
      create(SubscribeResponseSchema, response),
    );
    expect(encodeSubscribeResponse(response)).toEqual(Buffer.from(expected));
  });
});

describe("encodePullResponse", () => {
  for (const state of [JobState.UNSPECIFIED, JobState.RUNNING, JobState.CANCELLED]) {
    it(`matches toBinary with state ${JobState[state]}`, () => {
      const response = {
        results: [{ sequence: 5n, payload: PAYLOADS.text }],
        state,
      };

      const expected = toBinary(PullResponseSchema, create(PullResponseSchema, response));
      expect(encodePullResponse(response)).toEqual(Buffer.from(expected));
    });
  }
});
