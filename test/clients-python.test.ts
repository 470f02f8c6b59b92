import { describe, expect, it } from "vitest";
import {
  canRun,
  findPython,
  PYTHON_PACKAGE,
  runCommand,
  SERVER_MAIN,
} from "./support/polyglot.js";

/** Bounds the whole pytest run. */
const PYTEST_TIMEOUT_MS = 5 * 60_000;

const python = findPython();

describe.runIf(
  canRun(
    "Python client tests",
    python,
    "no Python with grpcio, protobuf and pytest",
    "run scripts/ci-install-tools.sh",
  ),
)("Python client", () => {
  it(
    "passes pytest against the built server",
    async () => {
      const result = await runCommand(
        python as string,
        ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
        {
          cwd: PYTHON_PACKAGE,
          env: { CONDUCTOR_SERVER_MAIN: SERVER_MAIN },
          timeoutMs: PYTEST_TIMEOUT_MS,
        },
      );
      // pytest exits with 5 when it collected no test, which must fail too.
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toMatch(/\d+ passed/);
      expect(result.stdout).not.toMatch(/skipped/);
    },
    PYTEST_TIMEOUT_MS + 10_000,
  );
});
