import { describe, expect, it } from "vitest";
import {
  canRun,
  findGo,
  GO_MODULE,
  runCommand,
  SERVER_MAIN,
} from "./support/polyglot.js";

/** Bounds `go test`, which compiles gRPC on its first run. */
const GO_TEST_TIMEOUT_MS = 8 * 60_000;

const go = findGo();

describe.runIf(
  canRun("Go client tests", go, "go is not on PATH", "install Go 1.26 or later"),
)("Go client", () => {
  it(
    "passes go test against the built server",
    async () => {
      const result = await runCommand(
        go as string,
        ["test", "-count=1", "-timeout=6m", "./..."],
        {
          cwd: GO_MODULE,
          env: { CONDUCTOR_SERVER_MAIN: SERVER_MAIN },
          timeoutMs: GO_TEST_TIMEOUT_MS,
        },
      );
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^ok\s+conductor\/clients\/go\/examples\/caller/m);
      expect(result.stdout).toMatch(/^ok\s+conductor\/clients\/go\/examples\/runner/m);
    },
    GO_TEST_TIMEOUT_MS + 10_000,
  );
});
