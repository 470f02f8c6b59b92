import { binaryPayload, type JobContext } from "../../clients/ts/src/index.js";
import { BARE_PATHS } from "../lib/bare-paths.js";
import type { Child } from "../lib/child.js";
import { CONDUCTOR_PATHS, leasedJob } from "../lib/conductor-calls.js";
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
    const bare = await startBare(options, "ingest-bare");
    try {
      for (const sizeBytes of SIZES_BYTES) {
        const count = resultCount(options, sizeBytes);
        const server = await startConductor(options, `ingest-${sizeBytes}`, {
          maxData: count,
        });
        try {
          const stream = await comparePushStream(options, server, bare, sizeBytes, count);
          const sdk = await compareSdk(options, server, bare, sizeBytes, count);
          rows.push(
            row(`${sizeBytes} B, PushStream, ${BATCH}/message`, stream),
            row(`${sizeBytes} B, runner SDK (PushPipeline)`, sdk),
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
        "runner SDK: a job of the TypeScript runner SDK calls context.push for every " +
          "result without waiting; the SDK sends them on one PushPipeline stream in " +
          `messages of up to ${BATCH} results, up to four of them unanswered at once`,
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
    const bareMessage = encodePushStreamRequest(1n, "lease", payloads);
    return await compare(
      options.rounds,
      async () => {
        const job = await leasedJob(server);
        const message = encodePushStreamRequest(job.ticket, job.lease, payloads);
        return sample(server, count, () =>
          sendStream(conductorClient, CONDUCTOR_PATHS.pushStream, message, count / BATCH),
        );
      },
      () =>
        sample(bare, count, () =>
          sendStream(bareClient, BARE_PATHS.ingest, bareMessage, count / BATCH),
        ),
    );
  } finally {
    conductorClient.close();
    bareClient.close();
  }
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
): Promise<Comparison> {
  const bytes = new Uint8Array(sizeBytes).fill(1);
  const payloads = Array.from({ length: count }, () => binaryPayload(bytes));
  let finished: (() => void) | undefined;
  const pushAll = async (_input: JobInput, context: JobContext) => {
    let last: Promise<bigint> | undefined;
    for (const payload of payloads) last = context.push(payload);
    await last;
    finished?.();
  };
  const runner = await BenchRunner.connect(addressOf(server), { [INGEST_KIND]: pushAll });
  const bareClient = new RawClient(addressOf(bare));
  try {
    await bareClient.connect();
    const bareMessage = encodePushStreamRequest(
      1n,
      "lease",
      binaryPayloads(BATCH, sizeBytes),
    );
    return await compare(
      options.rounds,
      () =>
        sample(server, count, async () => {
          const done = new Promise<void>((resolve) => {
            finished = resolve;
          });
          await runner.exec(INGEST_KIND, { count, sizeBytes });
          await done;
        }),
      () =>
        sample(bare, count, () =>
          sendStream(bareClient, BARE_PATHS.ingest, bareMessage, count / BATCH),
        ),
    );
  } finally {
    bareClient.close();
    await runner.close();
  }
}
