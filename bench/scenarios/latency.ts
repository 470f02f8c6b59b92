import { create, toBinary } from "@bufbuild/protobuf";
import { SubscribeRequestSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import { BARE_PATHS } from "../lib/bare-paths.js";
import type { Child } from "../lib/child.js";
import { CONDUCTOR_PATHS, finishJob, leasedJob } from "../lib/conductor-calls.js";
import {
  binaryPayloads,
  countResults,
  encodePushStreamRequest,
  encodeSubscribeResponses,
} from "../lib/messages.js";
import { RawClient } from "../lib/raw-client.js";
import { type Row, ratioAtMost, type Section } from "../lib/report.js";
import {
  addressOf,
  type RunOptions,
  type Scenario,
  startBare,
  startConductor,
} from "../lib/scenario.js";
import { median, percentile } from "../lib/stats.js";

const SIZE_BYTES = 64;

function sampleCount(options: RunOptions): number {
  return options.quick ? 1000 : 3000;
}

/** Median over rounds of each round's p50 and p99, in microseconds. */
interface Latency {
  readonly p50Us: number;
  readonly p99Us: number;
}

/**
 * Scenario 4: time from writing a result to a PushStream until a
 * subscriber of the same job receives it, one result in flight at a time.
 * The reference is a round trip on an open bare grpc-js bidirectional
 * stream that carries the same bytes, because both cross loopback twice
 * over streams already open.
 */
export const latencyScenario: Scenario = {
  name: "latency",
  async run(options) {
    const count = sampleCount(options);
    const server = await startConductor(options, "latency", { maxData: 1000 });
    const bare = await startBare(options, "latency");
    try {
      const conductorRounds: Latency[] = [];
      const bareRounds: Latency[] = [];
      await measureConductor(server, count);
      await measureBare(bare, count);
      for (let round = 0; round < options.rounds; round++) {
        conductorRounds.push(await measureConductor(server, count));
        bareRounds.push(await measureBare(bare, count));
      }
      const conductor = medians(conductorRounds);
      const reference = medians(bareRounds);
      return section(conductor, reference, count);
    } finally {
      await Promise.all([server.stop(), bare.stop()]);
    }
  },
};

function section(conductor: Latency, reference: Latency, count: number): Section {
  const microseconds = (value: number) => ({ value, unit: "microseconds" as const });
  const rows: Row[] = [
    {
      label: "p50",
      value: microseconds(conductor.p50Us),
      reference: microseconds(reference.p50Us),
      target: ratioAtMost(conductor.p50Us, reference.p50Us, 1.5),
    },
    {
      label: "p99",
      value: microseconds(conductor.p99Us),
      reference: microseconds(reference.p99Us),
    },
  ];
  return {
    title: "4. Latency from push to subscriber",
    legend:
      "value: conductor, PushStream write to Subscribe receipt; reference: round " +
      "trip on an open bare grpc-js bidirectional stream with the same bytes",
    rows,
    notes: [
      `${count} results of ${SIZE_BYTES} B per round, each written after the last ` +
        "one arrived; figures are medians over rounds of each round's percentile",
    ],
  };
}

function medians(rounds: Latency[]): Latency {
  return {
    p50Us: median(rounds.map((r) => r.p50Us)),
    p99Us: median(rounds.map((r) => r.p99Us)),
  };
}

function percentiles(samplesUs: number[]): Latency {
  return { p50Us: percentile(samplesUs, 50), p99Us: percentile(samplesUs, 99) };
}

async function measureConductor(server: Child, count: number): Promise<Latency> {
  const client = new RawClient(addressOf(server));
  try {
    await client.connect();
    const job = await leasedJob(server);
    const message = encodePushStreamRequest(
      job.ticket,
      job.lease,
      binaryPayloads(1, SIZE_BYTES),
    );
    const writer = client.clientStream(CONDUCTOR_PATHS.pushStream);
    let arrived: (() => void) | undefined;
    const request = toBinary(
      SubscribeRequestSchema,
      create(SubscribeRequestSchema, { ticket: job.ticket }),
    );
    const stream = client.serverStream(CONDUCTOR_PATHS.subscribe, request, (bytes) => {
      if (countResults(bytes) > 0) arrived?.();
    });
    const samplesUs: number[] = [];
    for (let i = 0; i < count; i++) {
      const received = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const startMs = performance.now();
      await writer.write(message);
      await received;
      samplesUs.push((performance.now() - startMs) * 1000);
    }
    await writer.end();
    await finishJob(server, job);
    await stream;
    return percentiles(samplesUs);
  } finally {
    client.close();
  }
}

async function measureBare(bare: Child, count: number): Promise<Latency> {
  const client = new RawClient(addressOf(bare));
  try {
    await client.connect();
    const [response] = encodeSubscribeResponses(1, 1, SIZE_BYTES);
    await bare.request("setUnaryResponse", { bytes: response });
    const request = encodePushStreamRequest(1n, "lease", binaryPayloads(1, SIZE_BYTES));
    let arrived: (() => void) | undefined;
    const call = client.duplexStream(BARE_PATHS.echo, () => arrived?.());
    const samplesUs: number[] = [];
    for (let i = 0; i < count; i++) {
      const received = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const startMs = performance.now();
      call.write(request);
      await received;
      samplesUs.push((performance.now() - startMs) * 1000);
    }
    call.end();
    return percentiles(samplesUs);
  } finally {
    client.close();
  }
}
