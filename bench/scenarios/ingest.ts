import { binaryPayload, type JobContext } from "../../clients/ts/src/index.js";
import { BARE_PATHS } from "../lib/bare-paths.js";
import type { Child } from "../lib/child.js";
import { CONDUCTOR_PATHS, finishJob, leasedJob } from "../lib/conductor-calls.js";
import { binaryPayloads, encodePushStreamRequest } from "../lib/messages.js";
import { RawClient } from "../lib/raw-client.js";
import { type Row, ratioAtLeast, type Section } from "../lib/report.js";
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

const SIZES_BYTES = [64, 4096];
/** Results per PushStream message, as many as the SDK puts in one message. */
const BATCH = 256;
const INGEST_KIND = "bench-ingest";
/**
 * How long a finished job's results live. Each round leaves a job holding
 * every result it stored, up to 80 MiB. Expiring it before the next round
 * keeps one round's garbage out of the next one's figures.
 */
const EXPIRY_MS = 100;

/** Waits until the results of the round just measured have expired. */
function afterExpiry(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, EXPIRY_MS * 3));
}

function resultCount(options: RunOptions, sizeBytes: number): number {
  const count = sizeBytes <= 64 ? 102_400 : 20_480;
  return options.quick ? count / 2 : count;
}

/**
 * Scenario 2: results per second the server stores from a producer,
 * through PushStream with a leased job and through the runner SDK, against
 * a bare grpc-js client stream carrying the same bytes.
 */
export const ingestScenario: Scenario = {
  name: "ingest",
  async run(options) {
    const rows: Row[] = [];
    const bare = await startBare(options, "ingest");
    try {
      for (const sizeBytes of SIZES_BYTES) {
        const count = resultCount(options, sizeBytes);
        const server = await startConductor(options, `ingest-${sizeBytes}`, {
          maxData: count,
          timeoutMs: EXPIRY_MS,
        });
        try {
          const stream = await comparePushStream(options, server, bare, sizeBytes, count);
          const sdkSingle = await compareSdk(options, server, bare, sizeBytes, count, 1);
          const sdkBatch = await compareSdk(
            options,
            server,
            bare,
            sizeBytes,
            count,
            BATCH,
          );
          rows.push(
            row(`${sizeBytes} B, PushStream, ${BATCH}/message`, stream),
            row(`${sizeBytes} B, runner SDK, 1 result/push`, sdkSingle),
            row(`${sizeBytes} B, runner SDK, ${BATCH} results/push`, sdkBatch),
          );
        } finally {
          await server.stop();
        }
      }
    } finally {
      await bare.stop();
    }
    return {
      title: "2. Ingest through the push path (one job)",
      legend:
        "value: conductor results stored/s; reference: bare grpc-js client stream " +
        `sending the same results, ${BATCH} to a message`,
      rows,
      notes: [
        "PushStream: a leased job, as a runner holds one, pushes pre-encoded messages",
        "runner SDK: a job of the TypeScript runner SDK calls context.push with 1 or " +
          `${BATCH} results at a time without waiting; the SDK sends them on one ` +
          `PushPipeline stream in messages of up to ${BATCH} results, up to four ` +
          "of them without a response at once",
      ],
    } satisfies Section;
  },
};

function row(label: string, comparison: Comparison): Row {
  const { conductor, reference } = comparison;
  return {
    label,
    value: { value: conductor.perSecond, unit: "per-second" },
    reference: { value: reference.perSecond, unit: "per-second" },
    target: ratioAtLeast(conductor.perSecond, reference.perSecond, 0.7),
    roundRatios: comparison.roundRatios,
    cpuUs: { value: conductor.cpuUsPerUnit, reference: reference.cpuUsPerUnit },
  };
}

async function comparePushStream(
  options: RunOptions,
  server: Child,
  bare: Child,
  sizeBytes: number,
  count: number,
): Promise<Comparison> {
  const conductorClient = new RawClient(addressOf(server));
  const bareClient = new RawClient(addressOf(bare));
  const payloads = binaryPayloads(BATCH, sizeBytes);
  try {
    await Promise.all([conductorClient.connect(), bareClient.connect()]);
    return await compare(
      options.rounds,
      async () => {
        const job = await leasedJob(server);
        const message = encodePushStreamRequest(job.ticket, job.lease, payloads);
        const measured = await sample(server, count, () =>
          sendStream(conductorClient, CONDUCTOR_PATHS.pushStream, message, count / BATCH),
        );
        await finishJob(server, job);
        await afterExpiry();
        return measured;
      },
      bareRound(bare, bareClient, sizeBytes, count),
    );
  } finally {
    conductorClient.close();
    bareClient.close();
  }
}

/** Returns a round of the reference: `count` results sent to the bare server, BATCH to a message. */
function bareRound(bare: Child, client: RawClient, sizeBytes: number, count: number) {
  const message = encodePushStreamRequest(1n, "lease", binaryPayloads(BATCH, sizeBytes));
  return () =>
    sample(bare, count, () =>
      sendStream(client, BARE_PATHS.ingest, message, count / BATCH),
    );
}

async function sendStream(
  client: RawClient,
  path: string,
  message: Uint8Array,
  messageCount: number,
): Promise<void> {
  const writer = client.clientStream(path);
  for (let i = 0; i < messageCount; i++) await writer.write(message);
  await writer.end();
}

async function compareSdk(
  options: RunOptions,
  server: Child,
  bare: Child,
  sizeBytes: number,
  count: number,
  perPush: number,
): Promise<Comparison> {
  const bytes = new Uint8Array(sizeBytes).fill(1);
  const payloads = Array.from({ length: count }, () => binaryPayload(bytes));
  let finished: (() => void) | undefined;
  const pushAll = async (_input: JobInput, context: JobContext) => {
    let last: Promise<bigint> | undefined;
    for (let i = 0; i < count; i += perPush) {
      last = context.push(...payloads.slice(i, i + perPush));
    }
    await last;
    finished?.();
  };
  const runner = await BenchRunner.connect(addressOf(server), { [INGEST_KIND]: pushAll });
  const bareClient = new RawClient(addressOf(bare));
  try {
    await bareClient.connect();
    return await compare(
      options.rounds,
      async () => {
        const measured = await sample(server, count, async () => {
          const done = new Promise<void>((resolve) => {
            finished = resolve;
          });
          await runner.exec(INGEST_KIND, { count, sizeBytes });
          await done;
        });
        await afterExpiry();
        return measured;
      },
      bareRound(bare, bareClient, sizeBytes, count),
    );
  } finally {
    bareClient.close();
    await runner.close();
  }
}
