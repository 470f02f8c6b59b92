import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "nice-grpc";
import type { ClientDefinition } from "./definition.js";
import type {
  ConductorService,
  PushRequestSchema,
} from "./gen/conductor/v1/conductor_pb.js";
import type { Payload } from "./gen/conductor/v1/payload_pb.js";
import { payloadSizeBound } from "./payloads.js";

type ConductorClient = Client<ClientDefinition<(typeof ConductorService)["method"]>>;
type PushRequest = MessageInitShape<typeof PushRequestSchema>;

/** Maximum results in one Push call. */
const MAX_BATCH_RESULTS = 256;
/** Estimated payload bytes after which a Push call takes no more results. */
const MAX_BATCH_BYTES = 1 << 20;

interface Entry {
  readonly payloads: readonly Payload[];
  /** Estimated encoded size of the payloads. */
  readonly bytes: number;
  readonly progress: { done: bigint; total: bigint } | undefined;
  readonly resolve: (lastSequence: bigint) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Sends the results of one job attempt with unary Push calls, one call at
 * a time and in order. Results pushed while a call is out go together in
 * the next one. Each push resolves once the server has stored it, so a
 * full ticket buffer makes pushes wait: that is the backpressure.
 */
export class Pusher {
  readonly #client: ConductorClient;
  readonly #ticket: bigint;
  readonly #lease: string;
  readonly #signal: AbortSignal;
  #queue: Entry[] = [];
  #sending: Promise<void> | undefined;
  #failure: { error: unknown } | undefined;

  /** `signal` aborts the calls in flight, when the lease is known dead. */
  constructor(
    client: ConductorClient,
    ticket: bigint,
    lease: string,
    signal: AbortSignal,
  ) {
    this.#client = client;
    this.#ticket = ticket;
    this.#lease = lease;
    this.#signal = signal;
  }

  /** The error that made a push fail, which later pushes fail with too. */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  /**
   * Queues results, and progress to store after them, and resolves with
   * the sequence of the last result once all are stored. Many results are
   * split over several calls.
   */
  push(payloads: readonly Payload[], progress?: Entry["progress"]): Promise<bigint> {
    if (this.#failure) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => {
      const chunks = chunk(payloads);
      for (const [index, { payloads, bytes }] of chunks.entries()) {
        const last = index === chunks.length - 1;
        this.#queue.push({
          payloads,
          bytes,
          progress: last ? progress : undefined,
          resolve: last ? resolve : () => {},
          reject,
        });
      }
      this.#sending ??= this.#sendAll().finally(() => {
        this.#sending = undefined;
      });
    });
  }

  /** Resolves once every queued push has been stored or has failed. */
  async flush(): Promise<void> {
    while (this.#sending) await this.#sending;
  }

  async #sendAll(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#takeBatch();
      try {
        const response = await this.#client.push(this.#request(batch), {
          signal: this.#signal,
        });
        settle(batch, response.lastSequence);
      } catch (error) {
        // Results after a failed push must not be stored out of order, so
        // everything queued fails with the same error.
        this.#failure = { error };
        for (const entry of [...batch, ...this.#queue.splice(0)]) entry.reject(error);
      }
    }
  }

  /** Takes entries for one call; one that carries progress ends it. */
  #takeBatch(): Entry[] {
    let taken = 0;
    let count = 0;
    let bytes = 0;
    for (const entry of this.#queue) {
      const full =
        count + entry.payloads.length > MAX_BATCH_RESULTS ||
        bytes + entry.bytes > MAX_BATCH_BYTES;
      if (taken > 0 && full) break;
      taken += 1;
      count += entry.payloads.length;
      bytes += entry.bytes;
      if (entry.progress) break;
    }
    // One splice per call: shifting entry by entry made a long queue of
    // unawaited pushes cost quadratic time.
    return this.#queue.splice(0, taken);
  }

  #request(batch: readonly Entry[]): PushRequest {
    return {
      ticket: this.#ticket,
      lease: this.#lease,
      results: batch.flatMap((entry) => entry.payloads),
      progress: batch.at(-1)?.progress,
    };
  }
}

/** Resolves each entry with the sequence of its own last result. */
function settle(batch: readonly Entry[], lastSequence: bigint): void {
  let sequence = lastSequence;
  for (let i = batch.length - 1; i >= 0; i--) {
    const entry = batch[i] as Entry;
    entry.resolve(sequence);
    sequence -= BigInt(entry.payloads.length);
  }
}

/** Splits results into groups that each fit one call; at least one group. */
function chunk(payloads: readonly Payload[]) {
  const chunks: { payloads: Payload[]; bytes: number }[] = [];
  let current = { payloads: [] as Payload[], bytes: 0 };
  for (const payload of payloads) {
    const size = payloadSizeBound(payload);
    const full =
      current.payloads.length >= MAX_BATCH_RESULTS ||
      current.bytes + size > MAX_BATCH_BYTES;
    if (current.payloads.length > 0 && full) {
      chunks.push(current);
      current = { payloads: [], bytes: 0 };
    }
    current.payloads.push(payload);
    current.bytes += size;
  }
  chunks.push(current);
  return chunks;
}
