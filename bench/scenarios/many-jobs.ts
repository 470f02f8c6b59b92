import { binaryPayload, type JobContext } from "../../clients/ts/src/index.js";
import { BareJobs } from "../lib/bare-jobs-client.js";
import type { Child } from "../lib/child.js";
import {
  expectResults,
  type StreamCounts,
  subscribeAndCount,
} from "../lib/conductor-calls.js";
import { RawClient } from "../lib/raw-client.js";
import type { Row, Section } from "../lib/report.js";
import { BenchRunner, type JobInput } from "../lib/runner.js";
import {
  addressOf,
  type Comparison,
  compare,
  type RunOptions,
  type Scenario,
  sample,
  startBare,
  startConductor,
} from "../lib/scenario.js";

const CONCURRENCY = [1, 16, 64];
const RESULTS_PER_JOB = 10;
const SIZE_BYTES = 64;
const JOB_KIND = "bench-job";

function jobCount(options: RunOptions, concurrency: number): number {
  const count = concurrency === 1 ? 200 : concurrency * 25;
  return options.quick ? Math.ceil(count / 2) : count;
}

/**
 * Scenario 5: jobs per second through a remote runner, each job an Exec,
 * ten results pushed one call at a time, and a Subscribe that reads them
 * to the job's end, with 1, 16 and 64 jobs in flight.
 */
export const manyJobsScenario: Scenario = {
  name: "jobs",
  async run(options) {
    const rows: Row[] = [];
    const bare = await startBare(options, "jobs");
    try {
      for (const concurrency of CONCURRENCY) {
        const { conductor, reference, roundRatios } = await measure(
          options,
          bare,
          concurrency,
        );
        rows.push({
          label: `${concurrency} job${concurrency === 1 ? "" : "s"} at once`,
          value: { value: conductor.perSecond, unit: "per-second" },
          reference: { value: reference.perSecond, unit: "per-second" },
          roundRatios,
          cpuUs: { value: conductor.cpuUsPerUnit, reference: reference.cpuUsPerUnit },
        });
      }
    } finally {
      await bare.stop();
    }
    return {
      title: "5. Many jobs through a remote runner",
      legend:
        "value: jobs/s, each Exec + 10 results + completion, read with Subscribe; " +
        "reference: the same calls and messages relayed by a bare grpc-js server",
      rows,
      notes: [
        `each job pushes ${RESULTS_PER_JOB} results of ${SIZE_BYTES} B with the ` +
          "TypeScript runner SDK, awaiting each push; the runner, with as many " +
          "slots as jobs in flight, and the callers share the client process",
        "reference: a raw grpc-js runner and callers send encoded messages: Exec, " +
          "the job to the runner, ten awaited pushes on a stream per job, Finish, " +
          "and a server stream of one result per push",
      ],
    } satisfies Section;
  },
};

async function pushTen(_input: JobInput, context: JobContext): Promise<void> {
  const payload = binaryPayload(new Uint8Array(SIZE_BYTES).fill(1));
  for (let i = 0; i < RESULTS_PER_JOB; i++) await context.push(payload);
}

async function measure(
  options: RunOptions,
  bare: Child,
  concurrency: number,
): Promise<Comparison> {
  const server = await startConductor(options, `jobs-${concurrency}`, { maxData: 1000 });
  const runner = await BenchRunner.connect(
    addressOf(server),
    { [JOB_KIND]: pushTen },
    concurrency,
  );
  const client = new RawClient(addressOf(server));
  const relay = await BareJobs.connect(addressOf(bare), {
    results: RESULTS_PER_JOB,
    sizeBytes: SIZE_BYTES,
    kind: JOB_KIND,
  });
  try {
    await client.connect();
    const count = jobCount(options, concurrency);
    const conductorJob = async () => {
      const ticket = await runner.exec(JOB_KIND, {
        count: RESULTS_PER_JOB,
        sizeBytes: SIZE_BYTES,
      });
      return subscribeAndCount(client, ticket);
    };
    return await compare(
      options.rounds,
      () => sample(server, count, () => runJobs(conductorJob, count, concurrency)),
      () => sample(bare, count, () => runJobs(() => relay.run(), count, concurrency)),
    );
  } finally {
    relay.close();
    client.close();
    await runner.close();
    await server.stop();
  }
}

/** Runs `count` jobs with `concurrency` of them in flight at any time. */
async function runJobs(
  runJob: () => Promise<StreamCounts>,
  count: number,
  concurrency: number,
): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started += 1;
      expectResults(await runJob(), RESULTS_PER_JOB, "a job's stream");
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
