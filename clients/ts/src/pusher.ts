import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, ClientError, Status } from "nice-grpc";
import type { ClientDefinition } from "./definition.js";
import {
  ConductorService,
  type PushPipelineRequestSchema,
} from "./gen/conductor/v1/conductor_pb.js";
import type { Payload } from "./gen/conductor/v1/payload_pb.js";
import { payloadSizeBound } from "./payloads.js";
import { encodePushPipelineRequest } from "./push-encoding.js";
import { RequestQueue } from "./request-queue.js";

type ConductorClient = Client<ClientDefinition<(typeof ConductorService)["method"]>>;
type PushPipelineRequest = MessageInitShape<typeof PushPipelineRequestSchema>;

/** The method pushes are sent with, named in errors the pusher makes itself. */
const PUSH_PIPELINE_PATH = `/${ConductorService.typeName}/${ConductorService.method.pushPipeline.name}`;
/** Maximum results in one message. */
const MAX_BATCH_RESULTS = 256;
/** Estimated payload bytes after which a message takes no more results. */
const MAX_BATCH_BYTES = 1 << 20;
/**
 * Bytes of a message besides its results' estimates: the ticket, progress
 * and field framing, with room to spare. The lease is counted on its own.
 */
const MESSAGE_OVERHEAD_BYTES = 256;
/**
 * Messages sent without a response yet. More than one hides the round
 * trip, and a few bound what a full ticket buffer leaves waiting in the stream.
 */
const MAX_IN_FLIGHT = 4;

export interface PusherOptions {
  /** Aborts the stream, when the lease is known dead. */
  readonly signal: AbortSignal;
  /** Called with the error of a failed push, at least once per failure. */
  readonly onFailure: (error: unknown) => void;
  /** The server's largest request message; messages are kept within it. */
  readonly maxMessageBytes?: number | undefined;
}

interface Entry {
  readonly payloads: readonly Payload[];
  /** Estimated encoded size of the payloads. */
  readonly bytes: number;
  readonly progress: { done: bigint; total: bigint } | undefined;
  readonly resolve: (lastSequence: bigint) => void;
  readonly reject: (error: unknown) => void;
  /** The promise the push returned, marked handled before it is rejected. */
  readonly promise: Promise<bigint>;
  /** Set for a result that no message within the server's limit can carry. */
  tooLarge?: ClientError;
}

/**
 * Sends the results of one job attempt in order over a PushPipeline
 * stream, opened at the first push. Up to MAX_IN_FLIGHT messages travel
 * at once; results pushed meanwhile wait and go together in the next
 * message. Each push resolves once the server's response reports its
 * results stored, so a full ticket buffer makes pushes wait: that is
 * the backpressure.
 *
 * Handlers may leave pushes unawaited, so a push's promise never rejects
 * unhandled: a failed push is reported to `onFailure` as well.
 */
export class Pusher {
  readonly #client: ConductorClient;
  readonly #ticket: bigint;
  readonly #lease: string;
  readonly #signal: AbortSignal;
  readonly #onFailure: (error: unknown) => void;
  /** Estimated payload bytes after which a message takes no more results. */
  readonly #maxBatchBytes: number;
  readonly #maxMessageBytes: number | undefined;
  /** Entries not sent yet: those of #queue from index #head on. */
  #queue: Entry[] = [];
  #head = 0;
  /** The entries of each message sent without a response yet, oldest first. */
  #inFlight: Entry[][] = [];
  #stream:
    | { requests: RequestQueue<PushPipelineRequest>; ended: Promise<void> }
    | undefined;
  #sendScheduled = false;
  #whenIdle: (() => void)[] = [];
  /** Set once flush has started closing the stream: later pushes fail. */
  #closed = false;
  #failure: { error: unknown } | undefined;

  constructor(
    client: ConductorClient,
    ticket: bigint,
    lease: string,
    options: PusherOptions,
  ) {
    this.#client = client;
    this.#ticket = ticket;
    this.#lease = lease;
    this.#signal = options.signal;
    this.#onFailure = options.onFailure;
    this.#maxMessageBytes = options.maxMessageBytes;
    const room =
      (options.maxMessageBytes ?? Number.POSITIVE_INFINITY) -
      MESSAGE_OVERHEAD_BYTES -
      Buffer.byteLength(lease);
    // A single result larger than this still makes a message of its own (see #tooLarge).
    this.#maxBatchBytes = Math.max(0, Math.min(MAX_BATCH_BYTES, room));
  }

  /** The error that made a push fail, which later pushes fail with too. */
  get failure(): { error: unknown } | undefined {
    return this.#failure;
  }

  /**
   * Queues results, and progress to store after them, and resolves with
   * the sequence of the last result once all are stored. Many results are
   * split over several messages.
   */
  push(payloads: readonly Payload[], progress?: Entry["progress"]): Promise<bigint> {
    if (this.#failure) return handledRejection(this.#failure.error);
    if (this.#closed) {
      const error = new PushAfterEndError();
      this.#onFailure(error);
      return handledRejection(error);
    }
    let resolve: Entry["resolve"] = () => {};
    let reject: Entry["reject"] = () => {};
    const promise = new Promise<bigint>((settle, fail) => {
      resolve = settle;
      reject = fail;
    });
    const bytes = sizeBound(payloads);
    if (payloads.length <= MAX_BATCH_RESULTS && bytes <= this.#maxBatchBytes) {
      // Most pushes fit one message: one entry, without splitting.
      this.#queue.push({ payloads, bytes, progress, resolve, reject, promise });
    } else {
      const chunks = chunk(payloads, this.#maxBatchBytes);
      for (const [index, { payloads, bytes }] of chunks.entries()) {
        const last = index === chunks.length - 1;
        const entry: Entry = {
          payloads,
          bytes,
          progress: last ? progress : undefined,
          resolve: last ? resolve : () => {},
          reject,
          promise,
        };
        entry.tooLarge = this.#tooLarge(entry);
        this.#queue.push(entry);
      }
    }
    this.#scheduleSend();
    return promise;
  }

  /**
   * Returns the error for an entry whose message would exceed the server's
   * limit, which only an entry of one large result can. The server would
   * end the whole stream, with the messages before it still unanswered, so
   * such a result fails here once those are stored.
   */
  #tooLarge(entry: Entry): ClientError | undefined {
    if (this.#maxMessageBytes === undefined || entry.bytes <= this.#maxBatchBytes) {
      return undefined;
    }
    const size = encodePushPipelineRequest(this.#request([entry])).byteLength;
    if (size <= this.#maxMessageBytes) return undefined;
    return new ClientError(
      PUSH_PIPELINE_PATH,
      Status.RESOURCE_EXHAUSTED,
      `a result needs a message of ${size} bytes, over the server's limit of ` +
        `${this.#maxMessageBytes} bytes`,
    );
  }

  /**
   * Resolves once every queued push has been stored or has failed, and the
   * stream is closed. Pushes made while it waits are sent too, and pushes
   * made after that fail with PushAfterEndError.
   */
  async flush(): Promise<void> {
    while (this.#queuedCount > 0 || this.#inFlight.length > 0) {
      await new Promise<void>((resolve) => this.#whenIdle.push(resolve));
    }
    this.#closed = true;
    this.#stream?.requests.close();
    await this.#stream?.ended;
  }

  /**
   * Sends on the next microtask, so that results pushed in one go share a
   * message instead of the first one leaving alone.
   */
  #scheduleSend(): void {
    if (this.#sendScheduled) return;
    this.#sendScheduled = true;
    queueMicrotask(() => {
      this.#sendScheduled = false;
      this.#send();
    });
  }

  /** Sends queued entries while fewer than MAX_IN_FLIGHT messages are out. */
  #send(): void {
    while (this.#queuedCount > 0 && this.#inFlight.length < MAX_IN_FLIGHT) {
      const tooLarge = this.#queue[this.#head]?.tooLarge;
      if (tooLarge) {
        // The results before it are stored first, as the server would have.
        if (this.#inFlight.length === 0) this.#fail(tooLarge);
        return;
      }
      const batch = this.#takeBatch();
      this.#inFlight.push(batch);
      this.#open().send(this.#request(batch));
    }
  }

  #open(): RequestQueue<PushPipelineRequest> {
    if (this.#stream) return this.#stream.requests;
    const requests = new RequestQueue<PushPipelineRequest>();
    const responses = this.#client.pushPipeline(requests, { signal: this.#signal });
    this.#stream = { requests, ended: this.#readResponses(responses) };
    return requests;
  }

  /** Settles the messages in flight as their responses arrive. Never rejects. */
  async #readResponses(
    responses: AsyncIterable<{ lastSequence: bigint }>,
  ): Promise<void> {
    try {
      for await (const { lastSequence } of responses) {
        const batch = this.#inFlight.shift();
        if (!batch)
          throw new Error("unexpected push response: no push was waiting for one");
        settle(batch, lastSequence);
        this.#send();
        this.#notifyIfIdle();
      }
      // Only the close in flush may end the stream, because later pushes
      // sent into an ended stream would wait forever.
      if (this.#inFlight.length > 0 || !this.#closed) {
        throw new Error("the push stream ended before every push was stored");
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Fails everything not stored yet with `error`: results after a failed
   * push must not be stored out of order.
   */
  #fail(error: unknown): void {
    if (!this.#failure) {
      this.#failure = { error };
      this.#onFailure(error);
    }
    const pending = [...this.#inFlight.flat(), ...this.#queue.slice(this.#head)];
    this.#inFlight = [];
    this.#queue = [];
    this.#head = 0;
    for (const entry of pending) {
      entry.promise.catch(ignore);
      entry.reject(error);
    }
    this.#stream?.requests.close();
    this.#notifyIfIdle();
  }

  #notifyIfIdle(): void {
    if (this.#queuedCount > 0 || this.#inFlight.length > 0) return;
    for (const resolve of this.#whenIdle.splice(0)) resolve();
  }

  get #queuedCount(): number {
    return this.#queue.length - this.#head;
  }

  /** Takes the entries of one message. An entry that carries progress ends it. */
  #takeBatch(): Entry[] {
    let end = this.#head;
    let count = 0;
    let bytes = 0;
    while (end < this.#queue.length) {
      const entry = this.#queue[end] as Entry;
      const full =
        count + entry.payloads.length > MAX_BATCH_RESULTS ||
        bytes + entry.bytes > this.#maxBatchBytes;
      if (end > this.#head && full) break;
      end += 1;
      count += entry.payloads.length;
      bytes += entry.bytes;
      if (entry.progress) break;
    }
    const batch = this.#queue.slice(this.#head, end);
    this.#head = end;
    this.#compact();
    return batch;
  }

  /**
   * Drops sent entries from the front once they are half the queue.
   * Splicing them off per message moved every later entry each time,
   * which made a long queue of unawaited pushes cost quadratic time.
   */
  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #request(batch: readonly Entry[]): PushPipelineRequest {
    const results: Payload[] = [];
    for (const entry of batch) {
      for (const payload of entry.payloads) results.push(payload);
    }
    return {
      ticket: this.#ticket,
      lease: this.#lease,
      results,
      progress: batch.at(-1)?.progress,
    };
  }
}

/** The error of a push made after the job's handler returned and its pushes were stored. */
export class PushAfterEndError extends Error {
  constructor() {
    super(
      "push after the job ended: the handler had returned and its results were stored",
    );
    this.name = "PushAfterEndError";
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

/** Returns a rejected promise that does not count as unhandled. */
function handledRejection(error: unknown): Promise<bigint> {
  const promise = Promise.reject(error);
  promise.catch(ignore);
  return promise;
}

function ignore(): void {}

/** Returns an upper bound of the encoded size of `payloads`. */
function sizeBound(payloads: readonly Payload[]): number {
  let bytes = 0;
  for (const payload of payloads) bytes += payloadSizeBound(payload);
  return bytes;
}

/** Splits results into groups that each fit one call; at least one group. */
function chunk(payloads: readonly Payload[], maxBytes: number) {
  const chunks: { payloads: Payload[]; bytes: number }[] = [];
  let current = { payloads: [] as Payload[], bytes: 0 };
  for (const payload of payloads) {
    const size = payloadSizeBound(payload);
    const full =
      current.payloads.length >= MAX_BATCH_RESULTS || current.bytes + size > maxBytes;
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
