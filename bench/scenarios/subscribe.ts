import { DEFAULT_LIMITS } from "../../src/service/conductor-service.js";
import { BARE_PATHS, type StreamSpec } from "../lib/bare-paths.js";
import type { Child } from "../lib/child.js";
import {
  countStream,
  expectOnePerMessage,
  expectResults,
  finishedBacklog,
  leasedJob,
  subscribeAll,
  subscribeAndCount,
} from "../lib/conductor-calls.js";
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

const SIZES_BYTES = [64, 4096];
/** Results per Subscribe message when a backlog exists. */
const BACKLOG_BATCH = DEFAULT_LIMITS.maxBatchResults;

/** Results per round. */
function resultCounts(options: RunOptions, sizeBytes: number) {
  const scale = options.quick ? 0.5 : 1;
  return {
    backlog: Math.round((sizeBytes <= 64 ? 200_000 : 40_000) * scale),
    onePerMessage: Math.round(20_000 * scale),
  };
}

/**
 * Scenario 1: results per second a subscriber receives through Subscribe,
 * against a bare grpc-js server stream that sends the same bytes in the
 * same messages.
 */
export const subscribeScenario: Scenario = {
  name: "subscribe",
  async run(options) {
    const rows: Row[] = [];
    const bare = await startBare(options, "subscribe");
    try {
      for (const sizeBytes of SIZES_BYTES) {
        const counts = resultCounts(options, sizeBytes);
        const backlog = await compareBacklog(options, bare, sizeBytes, counts.backlog);
        const single = await compareOnePerMessage(
          options,
          bare,
          sizeBytes,
          counts.onePerMessage,
        );
        rows.push(...sizeRows(sizeBytes, backlog, single));
      }
    } finally {
      await bare.stop();
    }
    return {
      title: "1. Result delivery through Subscribe (one job)",
      legend:
        "value: conductor results/s; reference: bare grpc-js server stream sending " +
        "the same messages, or conductor's one-result-per-message rate",
      rows,
      notes: [
        `backlog: the job's results are pushed before Subscribe starts, so each ` +
          `message carries ${BACKLOG_BATCH} results`,
        "one per message: the server runs with maxData 1 and the job pushes from " +
          "inside the server process, so each message carries one result",
      ],
    } satisfies Section;
  },
};

function sizeRows(sizeBytes: number, backlog: Comparison, single: Comparison): Row[] {
  const perSecond = (value: number) => ({ value, unit: "per-second" as const });
  return [
    {
      label: `${sizeBytes} B, backlog, ${BACKLOG_BATCH}/message`,
      value: perSecond(backlog.conductor.perSecond),
      reference: perSecond(backlog.reference.perSecond),
      target: ratioAtLeast(backlog.conductor.perSecond, backlog.reference.perSecond, 0.8),
      roundRatios: backlog.roundRatios,
      cpuUs: {
        value: backlog.conductor.cpuUsPerUnit,
        reference: backlog.reference.cpuUsPerUnit,
      },
    },
    {
      label: `${sizeBytes} B, one per message`,
      value: perSecond(single.conductor.perSecond),
      reference: perSecond(single.reference.perSecond),
      target: ratioAtLeast(single.conductor.perSecond, single.reference.perSecond, 0.8),
      roundRatios: single.roundRatios,
      cpuUs: {
        value: single.conductor.cpuUsPerUnit,
        reference: single.reference.cpuUsPerUnit,
      },
    },
    {
      label: `${sizeBytes} B, backlog vs one per message`,
      value: perSecond(backlog.conductor.perSecond),
      reference: perSecond(single.conductor.perSecond),
      target: ratioAtLeast(backlog.conductor.perSecond, single.conductor.perSecond, 10),
    },
  ];
}

async function compareBacklog(
  options: RunOptions,
  bare: Child,
  sizeBytes: number,
  count: number,
): Promise<Comparison> {
  const server = await startConductor(options, `subscribe-backlog-${sizeBytes}`, {
    maxData: count,
  });
  const conductorClient = new RawClient(addressOf(server));
  const bareClient = new RawClient(addressOf(bare));
  try {
    await Promise.all([conductorClient.connect(), bareClient.connect()]);
    const spec: StreamSpec = { count, perMessage: BACKLOG_BATCH, sizeBytes };
    const key = await bare.request<string>("prepareStream", spec);
    return await compare(
      options.rounds,
      async () => {
        const job = await finishedBacklog(
          server,
          conductorClient,
          count,
          BACKLOG_BATCH,
          sizeBytes,
        );
        return sample(server, count, () =>
          subscribeAll(conductorClient, job.ticket, count),
        );
      },
      () => bareStream(bare, bareClient, key, count),
    );
  } finally {
    conductorClient.close();
    bareClient.close();
    await server.stop();
  }
}

async function compareOnePerMessage(
  options: RunOptions,
  bare: Child,
  sizeBytes: number,
  count: number,
): Promise<Comparison> {
  const server = await startConductor(options, `subscribe-single-${sizeBytes}`, {
    maxData: 1,
  });
  const conductorClient = new RawClient(addressOf(server));
  const bareClient = new RawClient(addressOf(bare));
  try {
    await Promise.all([conductorClient.connect(), bareClient.connect()]);
    const spec: StreamSpec = { count, perMessage: 1, sizeBytes };
    const key = await bare.request<string>("prepareStream", spec);
    return await compare(
      options.rounds,
      async () => {
        const job = await leasedJob(server);
        return sample(server, count, async () => {
          const stream = subscribeAndCount(conductorClient, job.ticket);
          await server.request("produce", { ...job, count, sizeBytes });
          expectOnePerMessage(await stream, count);
        });
      },
      () => bareStream(bare, bareClient, key, count),
    );
  } finally {
    conductorClient.close();
    bareClient.close();
    await server.stop();
  }
}

function bareStream(bare: Child, client: RawClient, key: string, count: number) {
  return sample(bare, count, async () => {
    const counts = await countStream(client, BARE_PATHS.stream, Buffer.from(key));
    expectResults(counts, count, "the bare stream");
  });
}
