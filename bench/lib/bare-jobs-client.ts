import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { jsonPayload } from "../../src/core/payloads.js";
import { ExecRequestSchema } from "../../src/gen/conductor/v1/conductor_pb.js";
import { BARE_PATHS } from "./bare-paths.js";
import { countStream, type StreamCounts } from "./conductor-calls.js";
import { binaryPayloads, encodePushStreamRequest } from "./messages.js";
import { RawClient } from "./raw-client.js";

/** The shape of a relayed job: its results, their size and its kind. */
export interface BareJobShape {
  /** Results the runner pushes, each awaited, as the SDK runner of scenario 5 does. */
  readonly results: number;
  /** Payload bytes of each result. */
  readonly sizeBytes: number;
  /** The job kind named in the Exec request, so that it has conductor's size. */
  readonly kind: string;
}

/**
 * The runner and the callers of the bare job relay
 * (bench/servers/bare-jobs.ts), in this process, each on its own channel
 * as in conductor's scenario 5. Messages are encoded once, up front.
 */
export class BareJobs {
  readonly #runner: RawClient;
  readonly #caller: RawClient;
  readonly #jobs: grpc.ClientDuplexStream<Uint8Array, Buffer>;
  readonly #execRequest: Uint8Array;
  readonly #pushRequest: Uint8Array;
  readonly #results: number;
  /** Rejects with the error of the first job the runner failed to run. */
  readonly #runnerFailed: Promise<never>;
  #failRunner: (error: unknown) => void = () => {};

  private constructor(address: string, shape: BareJobShape) {
    this.#runner = new RawClient(address);
    this.#caller = new RawClient(address);
    this.#results = shape.results;
    this.#execRequest = toBinary(
      ExecRequestSchema,
      create(ExecRequestSchema, {
        kind: shape.kind,
        input: jsonPayload({ count: shape.results, sizeBytes: shape.sizeBytes }),
      }),
    );
    const lease = "0".repeat(32);
    this.#pushRequest = encodePushStreamRequest(
      1n,
      lease,
      binaryPayloads(1, shape.sizeBytes),
    );
    this.#runnerFailed = new Promise<never>((_, reject) => {
      this.#failRunner = reject;
    });
    this.#runnerFailed.catch(() => {});
    this.#jobs = this.#runner.duplexStream(BARE_PATHS.jobs, (id) => {
      this.#runJob(id.toString()).catch(this.#failRunner);
    });
  }

  /** Connects the runner and the callers' channel to the relay at `address`. */
  static async connect(address: string, shape: BareJobShape): Promise<BareJobs> {
    const jobs = new BareJobs(address, shape);
    await Promise.all([jobs.#runner.connect(), jobs.#caller.connect()]);
    return jobs;
  }

  /**
   * Starts one job, watches it to its end and returns the counts the watch
   * received. Rejects once any job failed in the runner, whose watch would
   * otherwise wait forever.
   */
  async run(): Promise<StreamCounts> {
    const watched = async () => {
      const id = await this.#caller.unary(BARE_PATHS.exec, this.#execRequest);
      return countStream(this.#caller, BARE_PATHS.watch, id);
    };
    return Promise.race([watched(), this.#runnerFailed]);
  }

  close(): void {
    this.#jobs.end();
    this.#runner.close();
    this.#caller.close();
  }

  /** Pushes the job's results on a stream of its own, each awaited, then finishes it. */
  async #runJob(id: string): Promise<void> {
    const metadata = new grpc.Metadata();
    metadata.set("job", id);
    let answered: (() => void) | undefined;
    const call = this.#runner.duplexStream(BARE_PATHS.push, () => answered?.(), metadata);
    const failed = new Promise<never>((_, reject) => call.on("error", reject));
    // An error after the last reply has no push left to fail.
    failed.catch(() => {});
    try {
      for (let i = 0; i < this.#results; i++) {
        const reply = new Promise<void>((resolve) => {
          answered = resolve;
        });
        call.write(this.#pushRequest);
        await Promise.race([reply, failed]);
      }
    } finally {
      call.end();
    }
    await this.#runner.unary(BARE_PATHS.finish, Buffer.from(id));
  }
}
