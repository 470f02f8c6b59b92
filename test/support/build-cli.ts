import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

/**
 * Compiles src/ to dist/ once before the test files run, so that the CLI
 * tests run the same executable that package.json names as `conductor`.
 */
export default function buildCli(): void {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
    stdio: "inherit",
  });
}
