import { create } from "@bufbuild/protobuf";
import { type Job, Queue, QueueEvents, Worker } from "bullmq";
import { type JobContext, textPayload } from "../../clients/ts/src/index.js";
import { PayloadSchema } from "../../src/gen/conductor/v1/payload_pb.js";
import {
  CONDUCTOR_PATHS,
  expectResults,
  finishJob,
  leasedJob,
  subscribeAll,
  subscribeAndCount,
} from "../lib/conductor-calls.js";
import { encodePushStreamRequest } from "../lib/messages.js";
import { RawClient } from "../lib/raw-client.js";
import { RedisServer } from "../lib/redis.js";
import { type Row, ratioAtLeast, type Section } from "../lib/report.js";
import { BenchRunner, type JobInput } from "../lib/runner.js";
import {
  addressOf,
  type RunOptions,
  type Scenario,
  startConductor,
} from "../lib/scenario.js";
import { median } from "../lib/stats.js";

/** A partial result: 64 characters of text. */
const PARTIAL = "x".repeat(64);
const KINDS = { awaited: "bench-peer-awaited", pipelined: "bench-peer-pipelined" };
type Mode = keyof typeof KINDS;

function partialCount(options: RunOptions): number {
  return options.quick ? 1000 : 2000;
}

/**
 * Scenario 7: one job that reports N partial results of 64 characters to
 * one listener, on conductor (runner SDK pushes, Subscribe) and on BullMQ
 * (job.updateProgress, QueueEvents "progress") with a local redis-server.
 */
export const peerScenario: Scenario = {
  name: "peer",
  async run(options) {
    const count = partialCount(options);
    const rows: Row[] = [];
    for (const mode of ["awaited", "pipelined"] as const) {
      const conductor = await conductorRates(options, mode, count);
      const bullmq = await bullmqRates(options, mode, count);
      const conductorRate = median(conductor);
      const bullmqRate = median(bullmq);
      rows.push({
        label: mode === "awaited" ? "awaiting each partial result" : "not awaiting each",
        value: { value: conductorRate, unit: "per-second" },
        reference: { value: bullmqRate, unit: "per-second" },
        target: ratioAtLeast(conductorRate, bullmqRate, 20),
      });
    }
    const stream = median(await pushStreamRates(options, count));
    const bullmqPipelined = rows.at(-1)?.reference?.value ?? Number.NaN;
    rows.push({
      label: "PushStream, not awaiting each",
      value: { value: stream, unit: "per-second" },
      reference: { value: bullmqPipelined, unit: "per-second" },
      target: ratioAtLeast(stream, bullmqPipelined, 20),
    });
    return {
      title: "7. Partial results of one job: conductor and BullMQ",
      legend:
        "value: conductor partial results/s from Exec to the last one received; " +
        "reference: BullMQ progress events/s from add to the last one received",
      rows,
      notes: [
        `${count} partial results per job; conductor: TypeScript runner SDK ` +
          "context.push and a Subscribe; BullMQ: job.updateProgress in a Worker and " +
          "a QueueEvents listener, with redis-server on loopback",
        "awaiting: the job waits for each report to be stored before the next; not " +
          "awaiting: it sends all reports, then waits for the last",
        "PushStream: a leased job writes one PushStream message per partial result, " +
          "from the lease to the last result received; its reference is BullMQ's " +
          "figure without awaiting",
      ],
    } satisfies Section;
  },
};

async function pushPartials(mode: Mode, input: JobInput, context: JobContext) {
  const payload = textPayload(PARTIAL);
  if (mode === "awaited") {
    for (let i = 0; i < input.count; i++) await context.push(payload);
    return;
  }
  let last: Promise<bigint> | undefined;
  for (let i = 0; i < input.count; i++) last = context.push(payload);
  await last;
}

async function conductorRates(options: RunOptions, mode: Mode, count: number) {
  const server = await startConductor(options, `peer-${mode}`, { maxData: 1000 });
  const runner = await BenchRunner.connect(addressOf(server), {
    [KINDS[mode]]: (input, context) => pushPartials(mode, input, context),
  });
  const client = new RawClient(addressOf(server));
  try {
    await client.connect();
    const round = async () => {
      const startMs = performance.now();
      const ticket = await runner.exec(KINDS[mode], { count, sizeBytes: PARTIAL.length });
      await subscribeAll(client, ticket, count);
      return (count / (performance.now() - startMs)) * 1000;
    };
    return await rounds(options, round);
  } finally {
    client.close();
    await runner.close();
    await server.stop();
  }
}

/** Partial results per second over one PushStream, one message per result. */
async function pushStreamRates(options: RunOptions, count: number) {
  const server = await startConductor(options, "peer-stream", { maxData: 1000 });
  const client = new RawClient(addressOf(server));
  const payload = create(PayloadSchema, { data: { case: "text", value: PARTIAL } });
  try {
    await client.connect();
    const round = async () => {
      const startMs = performance.now();
      const job = await leasedJob(server);
      const message = encodePushStreamRequest(job.ticket, job.lease, [payload]);
      const delivered = subscribeAndCount(client, job.ticket);
      const writer = client.clientStream(CONDUCTOR_PATHS.pushStream);
      for (let i = 0; i < count; i++) await writer.write(message);
      await writer.end();
      await finishJob(server, job);
      expectResults(await delivered, count, "Subscribe");
      return (count / (performance.now() - startMs)) * 1000;
    };
    return await rounds(options, round);
  } finally {
    client.close();
    await server.stop();
  }
}

async function bullmqRates(options: RunOptions, mode: Mode, count: number) {
  const redis = await RedisServer.start();
  const connection = { host: "127.0.0.1", port: redis.port, maxRetriesPerRequest: null };
  const name = `bench-${mode}`;
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  const worker = new Worker(name, (job: Job) => reportProgress(mode, job, count), {
    connection,
  });
  try {
    await Promise.all([
      queue.waitUntilReady(),
      events.waitUntilReady(),
      worker.waitUntilReady(),
    ]);
    const round = async () => {
      const startMs = performance.now();
      const job = await queue.add("partials", {}, { removeOnComplete: true });
      await receiveProgress(events, job.id as string, count);
      return (count / (performance.now() - startMs)) * 1000;
    };
    return await rounds(options, round);
  } finally {
    await worker.close();
    await Promise.all([queue.close(), events.close()]);
    await redis.stop();
  }
}

async function reportProgress(mode: Mode, job: Job, count: number): Promise<void> {
  const progress = { partial: PARTIAL };
  if (mode === "awaited") {
    for (let i = 0; i < count; i++) await job.updateProgress(progress);
    return;
  }
  const reports: Promise<void>[] = [];
  for (let i = 0; i < count; i++) reports.push(job.updateProgress(progress));
  await Promise.all(reports);
}

/** Resolves once `count` progress events of job `jobId` arrived. */
function receiveProgress(
  events: QueueEvents,
  jobId: string,
  count: number,
): Promise<void> {
  return new Promise((resolve) => {
    let received = 0;
    const onProgress = (args: { jobId: string }) => {
      if (args.jobId !== jobId) return;
      received += 1;
      if (received < count) return;
      events.off("progress", onProgress);
      resolve();
    };
    events.on("progress", onProgress);
  });
}

/** One warm-up round, then `options.rounds` rounds; returns their figures. */
async function rounds(options: RunOptions, round: () => Promise<number>) {
  await round();
  const figures: number[] = [];
  for (let i = 0; i < options.rounds; i++) figures.push(await round());
  return figures;
}
