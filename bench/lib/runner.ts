import { type Channel, createChannel, createClient } from "nice-grpc";
import {
  connectRunner,
  type JobContext,
  type Runner,
  type Payload as RunnerPayload,
} from "../../clients/ts/src/index.js";
import { jsonPayload } from "../../src/core/payloads.js";
import type { Payload } from "../../src/gen/conductor/v1/payload_pb.js";
import { conductorDefinition } from "../../src/service/conductor-service.js";

/** Parameters a benchmark job reads from its input. */
export interface JobInput {
  readonly count: number;
  readonly sizeBytes: number;
}

type Handler = (input: JobInput, context: JobContext) => Promise<void>;

/**
 * A runner of the TypeScript SDK in this process, serving benchmark job
 * kinds, and a client that starts jobs of those kinds.
 */
export class BenchRunner {
  readonly runner: Runner;
  readonly client: ReturnType<typeof conductorClient>;
  readonly #channel: Channel;

  private constructor(runner: Runner, channel: Channel) {
    this.runner = runner;
    this.#channel = channel;
    this.client = conductorClient(channel);
  }

  /** Connects a runner serving `kinds` with `concurrency` slots and waits until registered. */
  static async connect(
    address: string,
    kinds: Record<string, Handler>,
    concurrency = 1,
  ): Promise<BenchRunner> {
    const runner = connectRunner({
      address,
      concurrency,
      name: "bench",
      kinds: Object.fromEntries(
        Object.entries(kinds).map(([kind, handler]) => [
          kind,
          (input: RunnerPayload, context: JobContext) =>
            handler(readInput(input), context),
        ]),
      ),
    });
    await runner.registered;
    return new BenchRunner(runner, createChannel(address));
  }

  /** Starts a job of `kind` and returns its ticket. */
  async exec(kind: string, input: JobInput): Promise<bigint> {
    const { ticket } = await this.client.exec({ kind, input: jsonPayload({ ...input }) });
    return ticket;
  }

  async close(): Promise<void> {
    await this.runner.close();
    this.#channel.close();
  }
}

function conductorClient(channel: Channel) {
  return createClient(conductorDefinition, channel);
}

function readInput(payload: RunnerPayload | Payload): JobInput {
  if (payload.data.case !== "json") throw new Error("benchmark job input is not JSON");
  const kind = payload.data.value.kind;
  if (kind.case !== "structValue")
    throw new Error("benchmark job input is not a JSON object");
  const { fields } = kind.value;
  const number = (name: string) => {
    const field = fields[name]?.kind;
    if (field?.case !== "numberValue")
      throw new Error(`benchmark job input is missing the number ${name}`);
    return field.value;
  };
  return { count: number("count"), sizeBytes: number("sizeBytes") };
}
