import { describe, expect, it } from "vitest";
import { startHarness } from "./support/harness.js";

describe("server", () => {
  it("answers Exec with a non-zero ticket", async () => {
    const { client } = await startHarness();
    const { ticket } = await client.exec({ kind: "digest" });
    expect(ticket).not.toBe(0n);
  });
});
