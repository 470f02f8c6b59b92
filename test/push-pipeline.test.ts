import { Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { RequestQueue } from "../clients/ts/src/request-queue.js";
import { binaryPayload } from "../src/core/payloads.js";
import { type Harness, startHarness } from "./support/harness.js";
import {
  errorInfo,
  grpcError,
  numbered,
  numberOf,
  startExternalJob,
} from "./support/jobs.js";

type PipelineRequest = {
  ticket: bigint;
  lease: string;
  results: ReturnType<typeof numbered>;
};

/** Opens a PushPipeline call and returns its requests and a reader of its responses. */
function openPipeline(harness: Harness) {
  const requests = new RequestQueue<PipelineRequest>();
  const responses = harness.client.pushPipeline(requests)[Symbol.asyncIterator]();
  const nextSequence = async () => {
    const response = await responses.next();
    if (response.done) throw new Error("the pipeline ended without a response");
    return response.value.lastSequence;
  };
  return { requests, nextSequence };
}

/**
 * Starts a job with a buffer of two results and sends it three one-result
 * messages: the first two get their responses, and the third waits for room.
 */
async function pipelineWithHeldMessage(options: Parameters<typeof startHarness>[0]) {
  const harness = await startHarness({ ...options, maxData: 2 });
  const job = await startExternalJob(harness);
  const pipeline = openPipeline(harness);
  for (let i = 1; i <= 3; i++) {
    pipeline.requests.send({ ...job, results: numbered(1, i) });
  }
  await pipeline.nextSequence();
  await pipeline.nextSequence();
  return { harness, ...job, ...pipeline };
}

describe("PushPipeline", () => {
  it("responds to each message with its last sequence", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const { requests, nextSequence } = openPipeline(harness);

    requests.send({ ticket, lease, results: numbered(3, 1) });
    requests.send({ ticket, lease, results: numbered(2, 4) });
    const sequences = [await nextSequence(), await nextSequence()];
    requests.close();

    expect(sequences).toEqual([3n, 5n]);
  });

  it("stores the messages in flight in order", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const { requests, nextSequence } = openPipeline(harness);
    for (let i = 0; i < 10; i++) {
      requests.send({ ticket, lease, results: numbered(3, i * 3 + 1) });
    }

    for (let i = 0; i < 10; i++) await nextSequence();
    requests.close();
    const { results } = await harness.client.pull({ ticket, maxResults: 30 });

    const numbers = results.map((result) => numberOf(result.payload));
    expect(numbers).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it("holds the response while the buffer is full", async () => {
    const { harness, ticket, requests, nextSequence } = await pipelineWithHeldMessage({});

    let thirdSettled = false;
    const third = nextSequence().then((sequence) => {
      thirdSettled = true;
      return sequence;
    });
    const { status } = await harness.client.getStatus({ ticket });
    const settledWhileFull = thirdSettled;
    await harness.client.pull({ ticket });

    expect(status?.pushedCount).toBe(2n);
    expect(settledWhileFull).toBe(false);
    expect(await third).toBe(3n);
    requests.close();
  });

  it("responds to the messages before a failed one", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    const { requests, nextSequence } = openPipeline(harness);

    requests.send({ ticket, lease, results: numbered(2) });
    requests.send({ ticket, lease: "not-the-lease", results: numbered(1) });
    const first = await nextSequence();
    const error = await grpcError(nextSequence());

    expect(first).toBe(2n);
    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("LEASE_MISMATCH");
  });

  it("ends with RESOURCE_EXHAUSTED after an oversized message", async () => {
    const { harness, ticket, lease, requests, nextSequence } =
      await pipelineWithHeldMessage({ maxMessageBytes: 1024 });
    // The third message waits for room while grpc-js rejects the fourth.
    const oversized = binaryPayload(new Uint8Array(2_000));
    requests.send({ ticket, lease, results: [oversized] } as PipelineRequest);
    const ended = grpcError(nextSequence());
    await harness.client.pull({ ticket });

    const error = await ended;

    expect(error.code).toBe(Status.RESOURCE_EXHAUSTED);
  });
});
