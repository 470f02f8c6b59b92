import { BARE_PATHS } from "../lib/bare-paths.js";
import type { Child } from "../lib/child.js";
import {
  CONDUCTOR_PATHS,
  finishJob,
  leasedJob,
  pushResults,
} from "../lib/conductor-calls.js";
import {
  countResults,
  encodePullRequest,
  encodePullResponse,
  numberedResults,
} from "../lib/messages.js";
import { RawClient } from "../lib/raw-client.js";
import { type Row, ratioAtLeast, type Section } from "../lib/report.js";
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

const BATCH_SIZES = [1, 10, 100];
const SIZE_BYTES = 64;

function callCount(options: RunOptions): number {
  return options.quick ? 1000 : 3000;
}

/**
 * Scenario 3: sequential Pull calls per second with 1, 10 and 100 results
 * each, against a bare grpc-js unary call whose request and response are
 * the same bytes.
 */
export const pullScenario: Scenario = {
  name: "pull",
  async run(options) {
    const calls = callCount(options);
    const maxBatch = Math.max(...BATCH_SIZES);
    const server = await startConductor(options, "pull", { maxData: calls * maxBatch });
    const bare = await startBare(options, "pull");
    const rows: Row[] = [];
    try {
      for (const batch of BATCH_SIZES) {
        const comparison = await comparePull(options, server, bare, batch, calls);
        rows.push(row(batch, comparison));
      }
    } finally {
      await Promise.all([server.stop(), bare.stop()]);
    }
    return {
      title: "3. Pull, one call at a time",
      legend:
        "value: conductor Pull calls/s; reference: bare grpc-js unary call with the " +
        "same request and response bytes",
      rows,
      notes: [
        `results of ${SIZE_BYTES} B are buffered before the calls start; each round ` +
          `makes ${calls} calls over one channel, each after the last one returned`,
      ],
    } satisfies Section;
  },
};

function row(batch: number, comparison: Comparison): Row {
  const { conductor, reference } = comparison;
  return {
    label: `${batch} result${batch === 1 ? "" : "s"} per call`,
    value: { value: conductor.perSecond, unit: "per-second" },
    reference: { value: reference.perSecond, unit: "per-second" },
    target:
      batch === 1
        ? ratioAtLeast(conductor.perSecond, reference.perSecond, 0.85)
        : undefined,
    roundRatios: comparison.roundRatios,
    cpuUs: { value: conductor.cpuUsPerUnit, reference: reference.cpuUsPerUnit },
  };
}

async function comparePull(
  options: RunOptions,
  server: Child,
  bare: Child,
  batch: number,
  calls: number,
): Promise<Comparison> {
  const conductorClient = new RawClient(addressOf(server));
  const bareClient = new RawClient(addressOf(bare));
  try {
    await Promise.all([conductorClient.connect(), bareClient.connect()]);
    const response = encodePullResponse(numberedResults(batch, SIZE_BYTES));
    await bare.request("setUnaryResponse", { bytes: response });
    const bareRequest = encodePullRequest(1n, batch);
    return await compare(
      options.rounds,
      async () => {
        const job = await leasedJob(server);
        await pushResults(conductorClient, job, calls * batch, 256, SIZE_BYTES);
        const request = encodePullRequest(job.ticket, batch);
        const result = await sample(server, calls, () =>
          callRepeatedly(conductorClient, CONDUCTOR_PATHS.pull, request, calls, batch),
        );
        await finishJob(server, job);
        return result;
      },
      () =>
        sample(bare, calls, () =>
          callRepeatedly(bareClient, BARE_PATHS.unary, bareRequest, calls, batch),
        ),
    );
  } finally {
    conductorClient.close();
    bareClient.close();
  }
}

async function callRepeatedly(
  client: RawClient,
  path: string,
  request: Uint8Array,
  calls: number,
  batch: number,
): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const response = await client.unary(path, request);
    const count = countResults(response);
    if (count !== batch)
      throw new Error(`a call returned ${count} results; expected ${batch}`);
  }
}
