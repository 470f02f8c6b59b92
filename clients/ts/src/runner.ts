import { hostname } from "node:os";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import {
  type Channel,
  ChannelCredentials,
  ClientError,
  createChannel,
  createClient,
  Status,
} from "nice-grpc";
import { Backoff, sleep } from "./backoff.js";
import { clientDefinition } from "./definition.js";
import { ConductorService } from "./gen/conductor/v1/conductor_pb.js";
import {
  type Assignment,
  type ConnectRequestSchema,
  type Registered,
  RunnerService,
} from "./gen/conductor/v1/runner_pb.js";
import { JobError } from "./job-error.js";
import {
  type ConductorClient,
  type JobHandler,
  JobRun,
  type RunnerClient,
} from "./job-run.js";
import { encodePushPipelineRequest } from "./push-encoding.js";
import { RequestQueue } from "./request-queue.js";

/** Settings of connectRunner. */
export interface RunnerOptions {
  /** Address of the conductor server, such as "127.0.0.1:50051". */
  readonly address: string;
  /** Handlers by job kind. The runner serves exactly these kinds. */
  readonly kinds: Readonly<Record<string, JobHandler>>;
  /** Jobs run at once, at least 1; 1 when unset. */
  readonly concurrency?: number | undefined;
  /** Name shown in ListRunners and server logs; host name and pid by default. */
  readonly name?: string | undefined;
  /** Drain when the process gets SIGTERM. Off by default. */
  readonly drainOnSigterm?: boolean | undefined;
  /** First delay before reconnecting, doubled per failure; 100 ms by default. */
  readonly reconnectDelayMs?: number | undefined;
  /** Maximum delay before reconnecting; 10 s by default. */
  readonly maxReconnectDelayMs?: number | undefined;
  /** Channel credentials; plaintext when unset. */
  readonly credentials?: ChannelCredentials | undefined;
  /**
   * Receives errors the runner handles by itself, such as a lost
   * connection before a reconnect or a failed Finish call.
   */
  readonly onError?: ((error: unknown) => void) | undefined;
}

type ConnectRequest = MessageInitShape<typeof ConnectRequestSchema>;

/** Heartbeat interval used when the server does not state one. */
const DEFAULT_HEARTBEAT_MS = 1000;
/**
 * Heartbeat intervals without any message from the server after which the
 * connection counts as lost. The server drops a runner after as many
 * intervals without a message from it.
 */
const SILENT_INTERVALS = 3;
const HEARTBEAT: ConnectRequest = { message: { case: "heartbeat", value: {} } };
const DRAIN: ConnectRequest = { message: { case: "drain", value: {} } };

/**
 * Connects a runner to a conductor server and keeps it connected: it
 * registers `kinds`, runs the jobs the server assigns, sends heartbeats,
 * and reconnects with exponential backoff when the connection breaks.
 * A connection also counts as broken when the server sends nothing, not
 * even its heartbeat, for three heartbeat intervals. Jobs held when a
 * connection breaks are aborted, because the server treats them as lost.
 */
export function connectRunner(options: RunnerOptions): Runner {
  return new Runner(options);
}

/** A connected runner; see connectRunner. */
export class Runner {
  /**
   * Resolves with the runner id once the server accepted the first
   * registration; rejects when the runner stopped before that.
   */
  readonly registered: Promise<string>;
  /**
   * Settles once the runner has stopped: resolves after drain or close,
   * rejects when the server rejected the registration (INVALID_ARGUMENT)
   * or lacks the runner service (UNIMPLEMENTED).
   */
  readonly closed: Promise<void>;
  readonly #options: RunnerOptions;
  #clients: Clients;
  /** Jobs whose handler has not returned, by lease. */
  readonly #jobs = new Map<string, { run: JobRun; done: Promise<void> }>();
  /** Aborts when the runner must not connect again. */
  readonly #stop = new AbortController();
  #session: Session | undefined;
  #id: string | undefined;
  /** The server's largest request message, from its Registered message. */
  #maxMessageBytes: number | undefined;
  #draining = false;
  #closing = false;
  #resolveRegistered: (id: string) => void = () => {};
  readonly #onSigterm = () => void this.drain();

  /** Throws RangeError for a concurrency below 1 or no kinds. */
  constructor(options: RunnerOptions) {
    validateOptions(options);
    this.#options = options;
    this.#clients = connectClients(options);
    let rejectRegistered: (error: unknown) => void = () => {};
    this.registered = new Promise((resolve, reject) => {
      this.#resolveRegistered = resolve;
      rejectRegistered = reject;
    });
    if (options.drainOnSigterm) process.once("SIGTERM", this.#onSigterm);
    this.closed = this.#run().finally(() => {
      rejectRegistered(new Error("runner stopped before it registered"));
    });
    // Callers need not wait on either promise, so neither may go unhandled.
    this.registered.catch(() => {});
    this.closed.catch(() => {});
  }

  /** The id of the current registration; unset while disconnected. */
  get id(): string | undefined {
    return this.#id;
  }

  /** Jobs whose handler is running. */
  get activeJobs(): number {
    return this.#jobs.size;
  }

  /**
   * Stops taking jobs and lets the held ones finish, then closes the
   * stream. Resolves like `closed`. Does not reconnect from then on: a job
   * held when the connection breaks during a drain is lost.
   */
  drain(): Promise<void> {
    if (!this.#draining && !this.#closing) {
      this.#draining = true;
      this.#stop.abort();
      this.#session?.requests.send(DRAIN);
      this.#closeIfIdle();
    }
    return this.closed;
  }

  /**
   * Aborts every job and closes the connection at once. The server treats
   * held jobs as lost. Resolves when the runner has stopped.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stop.abort();
    this.#abandonAll("runner closed");
    this.#session?.call.abort();
    await this.closed.catch(() => {});
  }

  /** Connects, and connects again after each break, until stopped. */
  async #run(): Promise<void> {
    const backoff = new Backoff(
      this.#options.reconnectDelayMs ?? 100,
      this.#options.maxReconnectDelayMs ?? 10_000,
    );
    try {
      while (!this.#stop.signal.aborted) {
        try {
          await this.#connect(backoff);
        } catch (error) {
          if (isFatal(error)) throw error;
          if (!this.#closing) this.#options.onError?.(error);
        }
        this.#abandonAll("connection to the server lost");
        if (!this.#stop.signal.aborted) await sleep(backoff.next(), this.#stop.signal);
      }
      if (this.#draining)
        await Promise.all([...this.#jobs.values()].map((job) => job.done));
    } finally {
      this.#abandonAll("runner stopped");
      process.removeListener("SIGTERM", this.#onSigterm);
      this.#clients.channel.close();
    }
  }

  /**
   * Runs one Connect stream until it ends. When the server fell silent,
   * throws an error whose message gives that reason.
   */
  async #connect(backoff: Backoff): Promise<void> {
    const requests = new RequestQueue<ConnectRequest>();
    const call = new AbortController();
    const session: Session = { requests, call, silence: undefined, lost: undefined };
    this.#session = session;
    const { kinds } = this.#options;
    requests.send({
      message: {
        case: "register",
        value: {
          kinds: Object.keys(kinds),
          concurrency: this.#options.concurrency ?? 1,
          name: this.#options.name ?? `${hostname()}-${process.pid}`,
        },
      },
    });
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      const responses = this.#clients.runner.connect(requests, { signal: call.signal });
      for await (const { message } of responses) {
        session.silence?.refresh();
        if (message.case === "registered") {
          backoff.reset();
          heartbeat = this.#registered(message.value, session);
        } else if (message.case === "assignment") {
          this.#start(message.value);
        } else if (message.case === "revocation") {
          this.#jobs.get(message.value.lease)?.run.revoke(message.value.reason);
        }
      }
    } catch (error) {
      if (session.lost) throw new Error(session.lost, { cause: error });
      throw error;
    } finally {
      clearInterval(heartbeat);
      clearTimeout(session.silence);
      requests.close();
      this.#session = undefined;
      this.#id = undefined;
    }
  }

  /**
   * Records the registration, starts the heartbeats it requests and starts
   * watching for the server's silence. Nothing watches the stream before
   * Registered, because the runner has no jobs then and waits for the
   * server.
   */
  #registered(registered: Registered, session: Session) {
    this.#id = registered.runnerId;
    this.#maxMessageBytes = registered.maxMessageBytes || undefined;
    this.#resolveRegistered(registered.runnerId);
    const interval = registered.heartbeatInterval;
    const intervalMs = Math.max(
      1,
      interval ? durationMs(interval) : DEFAULT_HEARTBEAT_MS,
    );
    const silenceMs = SILENT_INTERVALS * intervalMs;
    session.silence = setTimeout(() => this.#lose(session, silenceMs), silenceMs);
    return setInterval(() => session.requests.send(HEARTBEAT), intervalMs);
  }

  /**
   * Ends a session whose server sent nothing for `silenceMs`. The jobs are
   * aborted first, so that their signals carry this reason. The TCP
   * connection may be stalled rather than closed, and grpc-js would keep
   * using it, so the next attempt gets a new channel.
   */
  #lose(session: Session, silenceMs: number): void {
    if (session.lost || session.call.signal.aborted) return;
    session.lost =
      `connection to the server lost: no message from the server within ` +
      `${silenceMs} ms (${SILENT_INTERVALS} heartbeat intervals)`;
    this.#abandonAll(session.lost);
    this.#clients.channel.close();
    this.#clients = connectClients(this.#options);
    session.call.abort();
  }

  #start(assignment: Assignment): void {
    const handler = this.#options.kinds[assignment.kind] ?? unknownKind;
    const run = new JobRun(assignment, handler, {
      conductor: this.#clients.conductor,
      runner: this.#clients.runner,
      onError: (error) => this.#options.onError?.(error),
      maxMessageBytes: this.#maxMessageBytes,
    });
    const done = run.run().finally(() => {
      this.#jobs.delete(assignment.lease);
      this.#closeIfIdle();
    });
    this.#jobs.set(assignment.lease, { run, done });
  }

  /** Half-closes the stream of a draining runner that holds no job. */
  #closeIfIdle(): void {
    if (this.#draining && this.#jobs.size === 0) this.#session?.requests.close();
  }

  #abandonAll(reason: string): void {
    for (const { run } of this.#jobs.values()) run.abandon(reason);
  }
}

function validateOptions(options: RunnerOptions): void {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `concurrency is ${concurrency}; it must be an integer of 1 or more`,
    );
  }
  if (Object.keys(options.kinds).length === 0) {
    throw new RangeError("kinds must name at least one job kind");
  }
}

/** A channel to the server and the clients that use it. */
interface Clients {
  readonly channel: Channel;
  readonly runner: RunnerClient;
  readonly conductor: ConductorClient;
}

/** One Connect stream of the runner. */
interface Session {
  readonly requests: RequestQueue<ConnectRequest>;
  readonly call: AbortController;
  /** Fires when the server has sent nothing for too long. */
  silence: NodeJS.Timeout | undefined;
  /** Reason the runner gave up on the stream; unset while it is in use. */
  lost: string | undefined;
}

function connectClients(options: RunnerOptions): Clients {
  const credentials = options.credentials ?? ChannelCredentials.createInsecure();
  const channel = createChannel(options.address, credentials, {
    // grpc-js 1.14 backs off reconnects on its own, from 1 s up to 120 s by
    // default, and that would override the runner's shorter delays.
    "grpc.initial_reconnect_backoff_ms": options.reconnectDelayMs ?? 100,
    "grpc.max_reconnect_backoff_ms": options.maxReconnectDelayMs ?? 10_000,
    // Keeps this channel's connections out of grpc-js's process-wide pool,
    // so a channel that replaces a stalled one can never share its socket.
    "grpc.use_local_subchannel_pool": 1,
  });
  return {
    channel,
    runner: createClient(clientDefinition(RunnerService), channel),
    conductor: createClient(
      clientDefinition(ConductorService, { pushPipeline: encodePushPipelineRequest }),
      channel,
    ),
  };
}

async function unknownKind(): Promise<void> {
  throw new JobError(
    Status.UNIMPLEMENTED,
    "this runner has no handler for the job's kind",
  );
}

/** Returns whether a Connect failure would repeat on every reconnect. */
function isFatal(error: unknown): boolean {
  if (!(error instanceof ClientError)) return false;
  return error.code === Status.INVALID_ARGUMENT || error.code === Status.UNIMPLEMENTED;
}
