import { binaryPayload, type JobContext } from "../../clients/ts/src/index.js";
import { expectResults, subscribeAndCount } from "../lib/conductor-calls.js";
import { RawClient } from "../lib/raw-client.js";
import type { Row, Section } from "../lib/report.js";
import { BenchRunner, type JobInput } from "../lib/runner.js";
import {
  addressOf,
  medianSample,
  type RunOptions,
  type Sample,
  type Scenario,
  sample,
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
    for (const concurrency of CONCURRENCY) {
      const figure = await measure(options, concurrency);
      rows.push({
        label: `${concurrency} job${concurrency === 1 ? "" : "s"} at once`,
        value: { value: figure.perSecond, unit: "per-second" },
        cpuUs: { value: figure.cpuUsPerUnit },
      });
    }
    return {
      title: "5. Many jobs through a remote runner",
      legend: "value: jobs/s, each Exec + 10 results + completion, read with Subscribe",
      rows,
      notes: [
        `each job pushes ${RESULTS_PER_JOB} results of ${SIZE_BYTES} B with the ` +
          "TypeScript runner SDK, awaiting each push; the runner, with as many " +
          "slots as jobs in flight, and the callers share the client process",
      ],
    } satisfies Section;
  },
};

async function pushTen(_input: JobInput, context: JobContext): Promise<void> {
  const payload = binaryPayload(new Uint8Array(SIZE_BYTES).fill(1));
  for (let i = 0; i < RESULTS_PER_JOB; i++) await context.push(payload);
}

async function measure(options: RunOptions, concurrency: number): Promise<Sample> {
  const server = await startConductor(options, `jobs-${concurrency}`, { maxData: 1000 });
  const runner = await BenchRunner.connect(
    addressOf(server),
    { [JOB_KIND]: pushTen },
    concurrency,
  );
  const client = new RawClient(addressOf(server));
  try {
    await client.connect();
    const count = jobCount(options, concurrency);
    const round = () =>
      sample(server, count, () => runJobs(runner, client, count, concurrency));
    await round();
    const samples: Sample[] = [];
    for (let i = 0; i < options.rounds; i++) samples.push(await round());
    return medianSample(samples);
  } finally {
    client.close();
    await runner.close();
    await server.stop();
  }
}

/** Runs `count` jobs with `concurrency` of them in flight at any time. */
async function runJobs(
  runner: BenchRunner,
  client: RawClient,
  count: number,
  concurrency: number,
): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started += 1;
      const ticket = await runner.exec(JOB_KIND, {
        count: RESULTS_PER_JOB,
        sizeBytes: SIZE_BYTES,
      });
      const delivered = await subscribeAndCount(client, ticket);
      expectResults(delivered, RESULTS_PER_JOB, "a job's Subscribe");
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
