import { Status } from "nice-grpc";
import { describe, expect, it } from "vitest";
import { nextAssignment, rawRunner, register } from "./runner-support.js";
import { startHarness } from "./support/harness.js";
import { drain } from "./support/jobs.js";

describe("runner loss reasons", () => {
  it("say that the runner closed its stream", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["remote"], 1, "closer"));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await nextAssignment(runner);

    runner.close();
    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: runner "closer" closed its stream',
    );
  });

  it("say that the runner's call broke", async () => {
    const harness = await startHarness();
    const runner = rawRunner(harness, register(["remote"], 1, "breaker"));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await nextAssignment(runner);

    runner.cancel();
    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: the call of runner "breaker" was cancelled or its connection broke',
    );
  });

  it("say that no heartbeat arrived in time", async () => {
    const harness = await startHarness({ runnerTimeoutMs: 300 });
    const runner = rawRunner(harness, register(["remote"], 1, "mute"));
    const { ticket } = await harness.client.exec({ kind: "remote" });
    await nextAssignment(runner);

    const consumed = await drain(harness.client.subscribe({ ticket }));

    expect(consumed.code).toBe(Status.UNAVAILABLE);
    expect(consumed.error?.details).toBe(
      'runner lost: no heartbeat or other message from runner "mute" within 300 ms',
    );
  });
});
