import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Lease } from "../core/ticket-store.js";
import {
  type ConnectResponse,
  ConnectResponseSchema,
  type RunnerInfo,
  RunnerInfoSchema,
} from "../gen/conductor/v1/runner_pb.js";
import { MessageQueue } from "./message-queue.js";

/** A runner's Register message, after validation. */
export interface Registration {
  readonly kinds: readonly string[];
  readonly concurrency: number;
  readonly name: string;
}

/** A job handed to a runner, from the moment it left the queue. */
export interface HeldJob {
  readonly ticket: bigint;
  readonly kind: string;
  /** Arrival order of the job, kept when it is queued again. */
  readonly order: number;
  /** The attempt's lease; unset while the store is starting the attempt. */
  lease: Lease | undefined;
  /** Set when the job was cancelled, before or after its lease arrived. */
  revoked: boolean;
  /**
   * Frees the slot of a revoked job whose runner never finishes it. The
   * slot is kept meanwhile, because the job may still be running there.
   */
  releaseTimer?: NodeJS.Timeout | undefined;
}

/**
 * The server's side of one Connect stream: what the runner serves, the
 * jobs it holds and the messages waiting to be sent to it.
 */
export class RunnerConnection {
  readonly id: string;
  /** Registration order over all runners, from 1. */
  readonly sequence: number;
  readonly name: string;
  readonly kinds: ReadonlySet<string>;
  readonly concurrency: number;
  readonly connectTimeMs = Date.now();
  /** Responses to send on the stream, in order. */
  readonly outbox = new MessageQueue<ConnectResponse>();
  /** Jobs the runner holds, by ticket. */
  readonly jobs = new Map<bigint, HeldJob>();
  /**
   * Slots promised to Execs whose tickets are being created; they count
   * as taken so that queued jobs do not fill them meanwhile.
   */
  reservedSlots = 0;
  draining = false;
  /** When the runner last sent a message, in epoch milliseconds. */
  lastSeenMs = Date.now();
  /** Stamp of the last job assigned, for round-robin among equals. */
  lastAssignment = 0;
  #closed = false;
  #heartbeats: NodeJS.Timeout | undefined;

  constructor(id: string, sequence: number, registration: Registration) {
    this.id = id;
    this.sequence = sequence;
    this.name = registration.name || id;
    this.kinds = new Set(registration.kinds);
    this.concurrency = registration.concurrency;
  }

  /** Set once the stream has ended; the runner gets nothing more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Share of the runner's concurrency in use or reserved, from 0 to 1. */
  get load(): number {
    return (this.jobs.size + this.reservedSlots) / this.concurrency;
  }

  /** Returns whether a job of `kind` may be assigned to this runner now. */
  accepts(kind: string): boolean {
    return (
      !this.#closed &&
      !this.draining &&
      this.kinds.has(kind) &&
      this.jobs.size + this.reservedSlots < this.concurrency
    );
  }

  /**
   * Sends Registered, with the server's largest request message, then a
   * Heartbeat every `heartbeatIntervalMs` until the connection closes. A
   * heartbeat is skipped while earlier responses still wait to be sent,
   * because their arrival proves the server alive just as well, and the
   * outbox of a runner that reads nothing stays small.
   */
  sendRegistered(heartbeatIntervalMs: number, maxMessageBytes: number): void {
    this.#send({
      case: "registered",
      value: {
        runnerId: this.id,
        heartbeatInterval: durationFromMs(heartbeatIntervalMs),
        maxMessageBytes,
      },
    });
    this.#heartbeats = setInterval(() => {
      if (this.outbox.size === 0) this.#send({ case: "heartbeat", value: {} });
    }, heartbeatIntervalMs);
    this.#heartbeats.unref();
  }

  sendAssignment(lease: Lease): void {
    this.#send({
      case: "assignment",
      value: {
        ticket: lease.ticket,
        kind: lease.kind,
        input: lease.input,
        attempt: lease.attempt,
        lease: lease.lease,
      },
    });
  }

  sendRevocation(ticket: bigint, lease: string, reason: string): void {
    this.#send({ case: "revocation", value: { ticket, lease, reason } });
  }

  /**
   * Stops the heartbeats and ends the stream once the queued responses
   * are sent, with `error` when one is given.
   */
  close(error?: unknown): void {
    this.#closed = true;
    clearInterval(this.#heartbeats);
    this.outbox.close(error);
  }

  info(): RunnerInfo {
    return create(RunnerInfoSchema, {
      runnerId: this.id,
      name: this.name,
      kinds: [...this.kinds],
      concurrency: this.concurrency,
      activeJobs: this.jobs.size,
      draining: this.draining,
      connectTime: timestampFromMs(this.connectTimeMs),
    });
  }

  #send(message: MessageInitShape<typeof ConnectResponseSchema>["message"]): void {
    this.outbox.send(create(ConnectResponseSchema, { message }));
  }
}
