import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { binaryPayload } from "../src/core/payloads.js";
import { ResultLog } from "../src/core/result-log.js";
import { PushStreamRequestSchema } from "../src/gen/conductor/v1/conductor_pb.js";
import { decodePushRequest } from "../src/service/push-decoding.js";

/** Appends `count` one-result pushes of 40-byte payloads whose bytes hold their sequence. */
function filledLog(count: number, retainResults: number): ResultLog {
  const log = new ResultLog({ results: retainResults, bytes: 0 });
  for (let sequence = 1; sequence <= count; sequence++) {
    log.append([binaryPayload(Buffer.alloc(40, sequence % 256))]);
  }
  return log;
}

/** Returns the sequence and first payload byte of each result. */
function summary(results: ReturnType<ResultLog["take"]>) {
  return results.toArray().map((result) => {
    const data = result.payload.data;
    return [result.sequence, data.case === "binary" ? data.value[0] : undefined];
  });
}

/** Decodes a PushStream request of binary payloads with the fast decoder. */
function decodedPayloads(values: Buffer[]) {
  const request = create(PushStreamRequestSchema, {
    ticket: 1n,
    lease: "l",
    results: values.map((value) => binaryPayload(value)),
  });
  const bytes = Buffer.from(toBinary(PushStreamRequestSchema, request));
  return decodePushRequest(PushStreamRequestSchema, bytes)?.results ?? [];
}

describe("ResultLog", () => {
  it("replays retained results after dropping older chunks", () => {
    const log = filledLog(5_000, 300);
    while (log.bufferedCount > 0) log.take(256);

    const replayed = log.replay(log.firstRetainedSequence - 1n, 1_000);

    const expected = Array.from({ length: 300 }, (_, i) => [
      BigInt(4_701 + i),
      (4_701 + i) % 256,
    ]);
    expect(summary(replayed)).toEqual(expected);
  });

  it("takes batches across chunks in order", () => {
    const log = filledLog(3_000, 0);

    const sequences: bigint[] = [];
    while (log.bufferedCount > 0) {
      for (const result of log.take(256).toArray()) sequences.push(result.sequence);
    }

    expect(sequences).toEqual(Array.from({ length: 3_000 }, (_, i) => BigInt(i + 1)));
  });

  it("copies large payload of mostly-skipped request", () => {
    const skipped = binaryPayload(Buffer.alloc(1 << 20, 1));
    const stored = binaryPayload(Buffer.alloc(2_000, 2));
    const request = Buffer.from(
      toBinary(
        PushStreamRequestSchema,
        create(PushStreamRequestSchema, {
          ticket: 1n,
          lease: "l",
          results: [skipped, stored],
        }),
      ),
    );
    const decoded = decodePushRequest(PushStreamRequestSchema, request)?.results ?? [];
    const log = new ResultLog({ results: 10, bytes: 0 });
    // As a retried push stores only the results it did not store before.
    log.append(decoded.slice(1));

    request.fill(0);

    const [result] = log.take(1).toArray();
    expect(result?.payload.data).toEqual({
      case: "binary",
      value: Buffer.alloc(2_000, 2),
    });
  });

  it("weighs kept payloads with their whole request", () => {
    // Each request contains 2,000 bytes besides its stored 3,000-byte payload:
    // a result stored before, which a retried push skips.
    const requests = [1, 2, 3].map((fill) =>
      decodedPayloads([Buffer.alloc(2_000, fill), Buffer.alloc(3_000, fill)]),
    );
    const log = new ResultLog({ results: 0, bytes: 10_000 });
    for (const payloads of requests) log.append(payloads.slice(1));

    for (let i = 0; i < 3; i++) log.take(1);

    // Counted at 3 KiB each, all three would fit 10,000 bytes.
    expect(log.firstRetainedSequence).toBe(3n);
  });

  it("keeps last batch beyond retention", () => {
    const log = new ResultLog({ results: 5, bytes: 1_000 });
    log.append(Array.from({ length: 300 }, () => binaryPayload(Buffer.alloc(100))));

    log.take(256);

    expect(log.firstRetainedSequence).toBe(1n);
  });
});
