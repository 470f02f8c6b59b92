import { Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { startHarness } from "./support/harness.js";
import {
  errorInfo,
  grpcError,
  numbered,
  numberOf,
  startExternalJob,
} from "./support/jobs.js";

/** Tracks whether a promise has settled, without waiting for it. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

describe("Push", () => {
  it("returns the sequence of the last stored result", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);

    await harness.client.push({ ticket, lease, results: numbered(3) });
    const { lastSequence } = await harness.client.push({
      ticket,
      lease,
      results: numbered(2),
    });

    expect(lastSequence).toBe(5n);
  });

  it("waits once maxData results are buffered", async () => {
    const harness = await startHarness({ maxData: 4 });
    const { ticket, lease } = await startExternalJob(harness);
    for (const payload of numbered(4)) {
      await harness.client.push({ ticket, lease, results: [payload] });
    }

    const fifth = track(harness.client.push({ ticket, lease, results: numbered(1, 5) }));
    const { status } = await harness.client.getStatus({ ticket });

    expect(status?.bufferedCount).toBe(4n);
    expect(status?.pushedCount).toBe(4n);
    expect(fifth.settled).toBe(false);
    await harness.client.pull({ ticket });
    await fifth.promise;
  });

  it("releases exactly one waiting push per consumed result", async () => {
    const harness = await startHarness({ maxData: 4 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(4) });
    const fifth = track(harness.client.push({ ticket, lease, results: numbered(1, 5) }));
    const sixth = track(harness.client.push({ ticket, lease, results: numbered(1, 6) }));
    await harness.client.getStatus({ ticket });

    await harness.client.pull({ ticket });
    const { lastSequence } = await fifth.promise;
    const { status } = await harness.client.getStatus({ ticket });

    expect(lastSequence).toBe(5n);
    expect(status?.pushedCount).toBe(5n);
    expect(sixth.settled).toBe(false);
    await harness.client.pull({ ticket });
    await sixth.promise;
  });

  it("keeps order across a waiting batch", async () => {
    const harness = await startHarness({ maxData: 3 });
    const { ticket, lease } = await startExternalJob(harness);
    const push = harness.client.push({ ticket, lease, results: numbered(10) });

    const pulled: number[] = [];
    while (pulled.length < 10) {
      const { results } = await harness.client.pull({
        ticket,
        maxResults: 2,
        wait: { seconds: 5n },
      });
      pulled.push(...results.map((r) => numberOf(r.payload)));
    }

    expect((await push).lastSequence).toBe(10n);
    expect(pulled).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("gives up waiting when the caller's deadline passes", async () => {
    const harness = await startHarness({ maxData: 1 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(1) });

    const error = await grpcError(
      harness.client.push(
        { ticket, lease, results: numbered(1) },
        { deadline: new Date(Date.now() + 100) },
      ),
    );
    const { status } = await harness.client.getStatus({ ticket });

    expect(error.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(status?.pushedCount).toBe(1n);
  });

  it("stores every message of a push stream in order", async () => {
    const harness = await startHarness({ maxData: 5 });
    const { ticket, lease } = await startExternalJob(harness);
    async function* messages() {
      for (let i = 0; i < 10; i++) {
        yield { ticket, lease, results: numbered(3, i * 3 + 1) };
      }
    }

    const pushing = harness.client.pushStream(messages());
    const pulled: number[] = [];
    while (pulled.length < 30) {
      const { results } = await harness.client.pull({
        ticket,
        maxResults: 4,
        wait: { seconds: 5n },
      });
      pulled.push(...results.map((r) => numberOf(r.payload)));
    }
    const response = await pushing;

    expect(pulled).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(response.storedCount).toBe(30n);
    expect(response.lastSequence).toBe(30n);
  });

  it("rejects a push to a finished job with FAILED_PRECONDITION", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.server.conductor.finish(ticket, lease);

    const error = await grpcError(
      harness.client.push({ ticket, lease, results: numbered(1) }),
    );

    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("TICKET_CLOSED");
  });

  it("rejects a push without the job's lease", async () => {
    const harness = await startHarness();
    const { ticket } = await startExternalJob(harness);

    const error = await grpcError(
      harness.client.push({ ticket, lease: "not-the-lease", results: numbered(1) }),
    );

    expect(error.code).toBe(Status.FAILED_PRECONDITION);
    expect(errorInfo(error)?.reason).toBe("LEASE_MISMATCH");
  });

  it("rejects a waiting push when the job is cancelled", async () => {
    const harness = await startHarness({ maxData: 1 });
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(1) });
    const waiting = grpcError(
      harness.client.push({ ticket, lease, results: numbered(1) }),
    );
    await harness.client.getStatus({ ticket });

    await harness.client.cancel({ ticket });

    expect((await waiting).code).toBe(Status.FAILED_PRECONDITION);
  });

  it("skips already stored results of a retried push", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(3), firstSequence: 1n });

    const retry = await harness.client.push({
      ticket,
      lease,
      results: numbered(5),
      firstSequence: 1n,
    });
    const { results } = await harness.client.pull({ ticket, maxResults: 10 });

    expect(retry.lastSequence).toBe(5n);
    expect(results.map((r) => numberOf(r.payload))).toEqual([1, 2, 3, 4, 5]);
  });

  it("stores nothing for a push that was fully stored before", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(3), firstSequence: 1n });

    const retry = await harness.client.push({
      ticket,
      lease,
      results: numbered(3),
      firstSequence: 1n,
    });
    const { status } = await harness.client.getStatus({ ticket });

    expect(retry.lastSequence).toBe(3n);
    expect(status?.pushedCount).toBe(3n);
  });

  it("excludes skipped results from stored_count", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);
    await harness.client.push({ ticket, lease, results: numbered(3) });
    async function* messages() {
      yield { ticket, lease, results: numbered(3, 2), firstSequence: 2n };
    }

    const response = await harness.client.pushStream(messages());

    expect(response.lastSequence).toBe(4n);
    expect(response.storedCount).toBe(1n);
  });

  it("rejects a first_sequence past the next free sequence", async () => {
    const harness = await startHarness();
    const { ticket, lease } = await startExternalJob(harness);

    const error = await grpcError(
      harness.client.push({ ticket, lease, results: numbered(1), firstSequence: 3n }),
    );

    expect(error.code).toBe(Status.INVALID_ARGUMENT);
    expect(errorInfo(error)?.metadata.field).toBe("first_sequence");
  });
});
