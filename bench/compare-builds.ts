import { existsSync } from "node:fs";
import { join } from "node:path";
import { Child } from "./lib/child.js";
import {
  type CompareArgs,
  DEFAULT_RESULT_BYTES,
  parseCompareArgs,
  UsageError,
  WORKLOAD_NAMES,
  type WorkloadName,
} from "./lib/compare-args.js";
import {
  CONDUCTOR_PATHS,
  expectOnePerMessage,
  finishedBacklog,
  finishJob,
  leasedJob,
  pushResults,
  subscribeAll,
  subscribeAndCount,
} from "./lib/conductor-calls.js";
import { encodePullRequest } from "./lib/messages.js";
import { RawClient } from "./lib/raw-client.js";
import { median } from "./lib/stats.js";

/**
 * Compares the server CPU time of one workload between builds of
 * conductor. One server per build runs at once, and rounds alternate
 * between them, so that the machine's drift during the run affects every
 * build alike. Prints the median, lowest and highest figure per build.
 *
 * Workloads:
 *   pull       Pull calls of one 64 B result, one at a time (per call)
 *   subscribe  a Subscribe that reads a backlog of results pushed through
 *              PushStream, 256 to a message (per result)
 *   ingest     a PushStream of results, 256 to a message, into a running
 *              job (per result)
 *   single     a Subscribe to a job that pushes results one at a time from
 *              inside a server with maxData 1, so that each message
 *              carries one result (per result)
 *
 * usage: node dist/benchmarks/bench/compare-builds.js WORKLOAD
 *          [--result-bytes N] [--server-flag FLAG]... BUILD...
 * where each BUILD is the `dist` directory of a checkout after `npm run build`,
 * N is the size of the results of subscribe, ingest and single (64 unless
 * given, at most 4096), and each FLAG is a node flag for the servers, such as --trace-gc.
 */

const ROUNDS = 12;

interface Contender {
  readonly build: string;
  /** Payload size of the results the workload moves. */
  readonly resultBytes: number;
  readonly server: Child;
  readonly client: RawClient;
  readonly cpuUsPerUnit: number[];
}

interface Workload {
  /** Name of one unit of the figure. */
  readonly unit: string;
  /** Results the server buffers before the rounds start. */
  readonly buffered: number;
  /** The servers' maxData; room for the backlogs when not given. */
  readonly maxData?: number;
  /** Runs once untimed, so that compiled code is warm. */
  warmUp(contender: Contender): Promise<void>;
  /** Runs one timed round and returns the server CPU per unit, in µs. */
  round(contender: Contender): Promise<number>;
}

const PULL_CALLS = 3000;
const PULL_WARM_UP_CALLS = 1000;
/** Results per round of subscribe and ingest of 64 B; of larger sizes fewer, down to the minimum. */
const BACKLOG_RESULTS = 100_000;
const MIN_BACKLOG_RESULTS = 20_000;
/** Payload bytes per round of subscribe and ingest, which bound the results of larger sizes. */
const BACKLOG_BYTES = 6_400_000;
/** Results per round of single, each in its own message. */
const SINGLE_RESULTS = 20_000;
const RESULTS_PER_PUSH = 256;

const pull: Workload = {
  unit: "Pull",
  buffered: ROUNDS * PULL_CALLS + PULL_WARM_UP_CALLS,
  async warmUp(contender) {
    await pullCalls(contender, PULL_WARM_UP_CALLS);
  },
  round: (contender) =>
    timed(contender, PULL_CALLS, () => pullCalls(contender, PULL_CALLS)),
};

/** Makes a workload of rounds on a fresh backlog each, warmed up by one untimed round. */
function backlogWorkload(round: (contender: Contender) => Promise<number>): Workload {
  return {
    unit: "result",
    buffered: 0,
    async warmUp(contender) {
      await round(contender);
    },
    round,
  };
}

const subscribe = backlogWorkload(subscribeRound);
const ingest = backlogWorkload(ingestRound);
const single: Workload = { ...backlogWorkload(singleRound), maxData: 1 };

const WORKLOADS: Record<WorkloadName, Workload> = { pull, subscribe, ingest, single };

async function pullCalls(contender: Contender, calls: number): Promise<void> {
  const ticket = await contender.server.request<bigint>("ticket");
  const request = encodePullRequest(ticket, 1);
  for (let i = 0; i < calls; i++) {
    await contender.client.unary(CONDUCTOR_PATHS.pull, request);
  }
}

/** Pushes a finished job's backlog, then times reading it with Subscribe. */
async function subscribeRound(contender: Contender): Promise<number> {
  const { server, client } = contender;
  const count = backlogResults(contender.resultBytes);
  const job = await finishedBacklog(
    server,
    client,
    count,
    RESULTS_PER_PUSH,
    contender.resultBytes,
  );
  return timed(contender, count, () => subscribeAll(client, job.ticket, count));
}

/** Times pushing a backlog into a running job, which is then finished. */
async function ingestRound(contender: Contender): Promise<number> {
  const { server, client } = contender;
  const job = await leasedJob(server);
  const count = backlogResults(contender.resultBytes);
  const cpuUsPerResult = await timed(contender, count, async () => {
    const stored = await pushResults(
      client,
      job,
      count,
      RESULTS_PER_PUSH,
      contender.resultBytes,
    );
    if (stored !== BigInt(count)) {
      throw new Error(`PushStream stored ${stored} results; expected ${count}`);
    }
  });
  await finishJob(server, job);
  return cpuUsPerResult;
}

/** Times a Subscribe that reads each result as the server's job pushes it. */
async function singleRound(contender: Contender): Promise<number> {
  const { server, client } = contender;
  const job = await leasedJob(server);
  return timed(contender, SINGLE_RESULTS, async () => {
    const stream = subscribeAndCount(client, job.ticket);
    await server.request("produce", {
      ...job,
      count: SINGLE_RESULTS,
      sizeBytes: contender.resultBytes,
    });
    expectOnePerMessage(await stream, SINGLE_RESULTS);
  });
}

/**
 * Returns the results per round of subscribe and ingest for payloads of
 * `resultBytes`: fewer large ones, because an ingest round's results live
 * until the server expires them.
 */
function backlogResults(resultBytes: number): number {
  const bounded = Math.floor(BACKLOG_BYTES / resultBytes);
  return Math.max(MIN_BACKLOG_RESULTS, Math.min(BACKLOG_RESULTS, bounded));
}

/** Runs `work` and returns the server CPU it took per unit, in µs. */
async function timed(
  contender: Contender,
  units: number,
  work: () => Promise<void>,
): Promise<number> {
  const before = await contender.server.request<number>("cpuUsage");
  await work();
  const after = await contender.server.request<number>("cpuUsage");
  return (after - before) / units;
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

async function start(
  build: string,
  workload: Workload,
  options: CompareArgs,
): Promise<Contender> {
  const script = new URL("./servers/build-server.js", import.meta.url);
  const settings = { build, results: workload.buffered, maxData: workload.maxData };
  const server = await Child.start(script, settings, { nodeFlags: options.flags });
  const client = new RawClient(`127.0.0.1:${server.port}`);
  await client.connect();
  const resultBytes = options.resultBytes ?? DEFAULT_RESULT_BYTES;
  return { build, resultBytes, server, client, cpuUsPerUnit: [] };
}

/** Starts the server of `build`; prints why and returns undefined when it does not start. */
async function tryStart(
  build: string,
  workload: Workload,
  options: CompareArgs,
): Promise<Contender | undefined> {
  try {
    return await start(build, workload, options);
  } catch (error) {
    console.error(`failed to start a server of ${build}: ${(error as Error).message}`);
    console.error("check the --server-flag values and that the build is complete");
    return undefined;
  }
}

const USAGE =
  `usage: node dist/benchmarks/bench/compare-builds.js ${WORKLOAD_NAMES.join("|")} ` +
  "[--result-bytes N] [--server-flag FLAG]... BUILD...";

function usage(message: string): never {
  console.error(message);
  console.error(USAGE);
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
let options: CompareArgs;
try {
  options = parseCompareArgs(args);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  usage(error.message);
}
const workload = WORKLOADS[options.workload];
const { builds } = options;
for (const build of builds) {
  const problem = buildProblem(build);
  if (problem) usage(`${build}: ${problem}`);
}
const contenders: Contender[] = [];
try {
  for (const build of builds) {
    const contender = await tryStart(build, workload, options);
    if (contender) contenders.push(contender);
  }
  if (contenders.length === builds.length) await compareAll(workload, contenders);
  else process.exitCode = 1;
} finally {
  for (const contender of contenders) {
    contender.client.close();
    await contender.server.stop();
  }
}

/** Runs the rounds of `workload` on every contender and prints each one's figures. */
async function compareAll(workload: Workload, contenders: readonly Contender[]) {
  for (const contender of contenders) await workload.warmUp(contender);
  for (let i = 0; i < ROUNDS; i++) {
    // Alternating the order keeps any one build from always going first.
    const order = i % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of order)
      contender.cpuUsPerUnit.push(await workload.round(contender));
  }
  for (const { build, cpuUsPerUnit } of contenders) {
    const digits = workload.unit === "Pull" ? 0 : 3;
    const [mid, low, high] = [
      median(cpuUsPerUnit),
      Math.min(...cpuUsPerUnit),
      Math.max(...cpuUsPerUnit),
    ].map((us) => us.toFixed(digits));
    console.log(
      `${build}: server CPU per ${workload.unit} ${mid} µs (lowest ${low}, highest ${high})`,
    );
  }
}
