import { existsSync } from "node:fs";
import { join } from "node:path";
import { Child } from "./lib/child.js";
import { CONDUCTOR_PATHS } from "./lib/conductor-calls.js";
import { encodePullRequest } from "./lib/messages.js";
import { RawClient } from "./lib/raw-client.js";
import { median } from "./lib/stats.js";

/**
 * Compares the server CPU time per Pull of one result between builds of
 * conductor. One server per build runs at once, and rounds alternate
 * between them, so that the machine's drift during the run affects every
 * build alike. Prints the median, lowest and highest figure per build.
 *
 * usage: node dist/benchmarks/bench/compare-pull.js BUILD...
 * where each BUILD is the `dist` directory of a checkout after `npm run build`.
 */

const ROUNDS = 12;
const CALLS_PER_ROUND = 3000;
const WARM_UP_CALLS = 1000;

interface Contender {
  readonly build: string;
  readonly server: Child;
  readonly client: RawClient;
  readonly request: Uint8Array;
  readonly cpuUsPerCall: number[];
}

/** Returns why `build` is not a compiled conductor, or undefined when it is one. */
function buildProblem(build: string): string | undefined {
  if (!existsSync(build)) return "no such directory";
  if (existsSync(join(build, "server.js"))) return undefined;
  if (existsSync(join(build, "dist", "server.js"))) {
    return `not a build; did you mean ${join(build, "dist")}?`;
  }
  return "no server.js here; run npm run build in its checkout and pass its dist";
}

async function start(build: string): Promise<Contender> {
  const results = ROUNDS * CALLS_PER_ROUND + WARM_UP_CALLS;
  const script = new URL("./servers/build-server.js", import.meta.url);
  const server = await Child.start(script, { build, results });
  const client = new RawClient(`127.0.0.1:${server.port}`);
  await client.connect();
  const ticket = await server.request<bigint>("ticket");
  const request = encodePullRequest(ticket, 1);
  return { build, server, client, request, cpuUsPerCall: [] };
}

async function pull(contender: Contender, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) {
    await contender.client.unary(CONDUCTOR_PATHS.pull, contender.request);
  }
}

async function round(contender: Contender): Promise<void> {
  const before = await contender.server.request<number>("cpuUsage");
  await pull(contender, CALLS_PER_ROUND);
  const after = await contender.server.request<number>("cpuUsage");
  contender.cpuUsPerCall.push((after - before) / CALLS_PER_ROUND);
}

const builds = process.argv.slice(2);
if (builds.length === 0) {
  console.error("usage: node dist/benchmarks/bench/compare-pull.js BUILD...");
  process.exit(2);
}
for (const build of builds) {
  const problem = buildProblem(build);
  if (problem) {
    console.error(`${build}: ${problem}`);
    process.exit(2);
  }
}
const contenders: Contender[] = [];
try {
  for (const build of builds) contenders.push(await start(build));
  for (const contender of contenders) await pull(contender, WARM_UP_CALLS);
  for (let i = 0; i < ROUNDS; i++) {
    // Alternating the order keeps any one build from always going first.
    const order = i % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order) await round(contender);
  }
  for (const { build, cpuUsPerCall } of contenders) {
    const figures = [
      median(cpuUsPerCall),
      Math.min(...cpuUsPerCall),
      Math.max(...cpuUsPerCall),
    ];
    const [mid, low, high] = figures.map((us) => us.toFixed(0));
    console.log(
      `${build}: server CPU per Pull ${mid} µs (lowest ${low}, highest ${high})`,
    );
  }
} finally {
  for (const contender of contenders) {
    contender.client.close();
    await contender.server.stop();
  }
}
