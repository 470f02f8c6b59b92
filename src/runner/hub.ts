import { randomBytes } from "node:crypto";
import { ServerError, Status } from "nice-grpc";
import type { Logger } from "pino";
import type { QueueReservation, RemoteDispatcher } from "../core/conductor.js";
import { ConductorError, UnknownKindError } from "../core/errors.js";
import { ExpiryQueue } from "../core/expiry-queue.js";
import type { JobFailure, Lease, TicketStore } from "../core/ticket-store.js";
import type { RunnerInfo } from "../gen/conductor/v1/runner_pb.js";
import { Admission } from "./admission.js";
import { JobQueue, type QueuedJob } from "./job-queue.js";
import { validateRegistration } from "./registration.js";
import {
  type HeldJob,
  type Registration,
  RunnerConnection,
} from "./runner-connection.js";
import { nextAssignment } from "./scheduling.js";

/** Settings of a RunnerHub. */
export interface RunnerHubOptions {
  /** How long a job waits for a runner before it fails with UNAVAILABLE. */
  readonly queueTimeoutMs: number;
  /** Jobs that may wait for a runner at once, over all kinds. */
  readonly maxQueuedJobs: number;
  /** How long a runner may send nothing before it counts as lost. */
  readonly runnerTimeoutMs: number;
  /** Kinds runners may serve; any kind that is not built in when unset. */
  readonly runnerKinds?: readonly string[] | undefined;
  /** Kinds the server runs itself; runners cannot register them. */
  readonly builtInKinds: readonly string[];
  /** The largest request message the server accepts, sent to runners in Registered. */
  readonly maxMessageBytes?: number | undefined;
  readonly logger?: Logger | undefined;
}

/** Runners are asked for a heartbeat this many times per timeout. */
const HEARTBEATS_PER_TIMEOUT = 3;

/**
 * Hands jobs of remote kinds to connected runners.
 *
 * A runner never holds more jobs than its concurrency. A job goes to the
 * runner of its kind with the lowest share of its concurrency in use; on a
 * tie, to the one that got a job least recently. Jobs with no free runner
 * wait in a FIFO queue per kind; the oldest job over all kinds a runner
 * serves goes first.
 *
 * When a runner is lost, each job it held goes back to the queue while its
 * attempt number is at most the ticket's max_retries, and otherwise fails
 * with UNAVAILABLE "runner lost". Results already pushed stay in the
 * ticket's buffer either way.
 */
export class RunnerHub implements RemoteDispatcher {
  readonly #store: TicketStore;
  readonly #options: RunnerHubOptions;
  readonly #runnerKinds: ReadonlySet<string> | undefined;
  readonly #queue: JobQueue;
  readonly #admission: Admission;
  readonly #runners = new Map<string, RunnerConnection>();
  /** The runner holding each assigned ticket. */
  readonly #holders = new Map<bigint, RunnerConnection>();
  /** Deadlines by which each runner must send its next message. */
  readonly #liveness: ExpiryQueue<RunnerConnection>;
  readonly #logger: Logger | undefined;
  #assignments = 0;
  #registrations = 0;

  constructor(store: TicketStore, options: RunnerHubOptions) {
    this.#store = store;
    this.#options = options;
    this.#logger = options.logger;
    this.#runnerKinds = options.runnerKinds && new Set(options.runnerKinds);
    this.#queue = new JobQueue({
      queueTimeoutMs: options.queueTimeoutMs,
      onTimeout: (job) => void this.#failQueued(job),
    });
    this.#admission = new Admission({
      queue: this.#queue,
      runners: this.#runners,
      maxQueuedJobs: options.maxQueuedJobs,
      dispatch: () => this.#dispatch(),
    });
    this.#liveness = new ExpiryQueue(
      (runner) =>
        runner.closed ? undefined : runner.lastSeenMs + options.runnerTimeoutMs,
      (runner) => this.#timeOut(runner),
    );
  }

  /** How long a runner may send nothing before it counts as lost. */
  get runnerTimeoutMs(): number {
    return this.#options.runnerTimeoutMs;
  }

  /** How often runners are asked to send a heartbeat. */
  get heartbeatIntervalMs(): number {
    return Math.max(
      1,
      Math.floor(this.#options.runnerTimeoutMs / HEARTBEATS_PER_TIMEOUT),
    );
  }

  /** See Admission.admit; also throws UnknownKindError. */
  admit(kind: string): QueueReservation {
    if (this.#runnerKinds && !this.#runnerKinds.has(kind)) {
      throw new UnknownKindError(kind);
    }
    return this.#admission.admit(kind);
  }

  revoke(ticket: bigint): void {
    if (this.#queue.delete(ticket)) return;
    const runner = this.#holders.get(ticket);
    const job = runner?.jobs.get(ticket);
    if (!runner || !job) return;
    job.revoked = true;
    // Without a lease the assignment has not been sent yet, so #start
    // releases the job once the lease arrives.
    if (!job.lease) return;
    runner.sendRevocation(ticket, job.lease.lease, "job cancelled");
    // The slot stays taken until the runner finishes the job, which shows
    // that its work stopped, so that a handler slow to stop does not push
    // its runner past its concurrency. A runner that never finishes a
    // revoked job gets the slot back after runnerTimeoutMs.
    job.releaseTimer = setTimeout(() => {
      if (runner.jobs.get(ticket) === job) this.#release(runner, ticket);
    }, this.#options.runnerTimeoutMs);
    job.releaseTimer.unref();
  }

  /**
   * Adds a runner that sent `registration`. Throws InvalidArgumentError
   * when the registration is invalid or names kinds it may not serve.
   */
  connect(registration: Registration): RunnerConnection {
    validateRegistration(registration, {
      builtInKinds: this.#options.builtInKinds,
      runnerKinds: this.#runnerKinds,
    });
    const runner = new RunnerConnection(
      randomBytes(8).toString("hex"),
      ++this.#registrations,
      registration,
    );
    this.#runners.set(runner.id, runner);
    this.#liveness.schedule(runner, runner.lastSeenMs + this.#options.runnerTimeoutMs);
    runner.sendRegistered(this.heartbeatIntervalMs, this.#options.maxMessageBytes ?? 0);
    this.#logger?.info(
      {
        runnerId: runner.id,
        name: runner.name,
        kinds: [...runner.kinds],
        concurrency: runner.concurrency,
      },
      "runner registered",
    );
    this.#dispatch();
    return runner;
  }

  /** Records that the runner sent a message, which proves it alive. */
  touch(runner: RunnerConnection): void {
    runner.lastSeenMs = Date.now();
  }

  /** Stops assigning jobs to the runner; the jobs it holds go on. */
  drain(runner: RunnerConnection): void {
    if (runner.draining) return;
    runner.draining = true;
    this.#logger?.info(
      { runnerId: runner.id, activeJobs: runner.jobs.size },
      "runner draining",
    );
  }

  /**
   * Removes a runner whose stream ended, and recovers the jobs it held.
   * Ends the stream with `error` when one is given. Does nothing for a
   * runner already removed.
   */
  disconnect(runner: RunnerConnection, reason: string, error?: unknown): void {
    if (runner.closed) return;
    runner.close(error);
    this.#runners.delete(runner.id);
    const lost = [...runner.jobs.values()].filter((job) => job.lease);
    // Cancelled jobs it had not finished yet are no loss.
    const running = lost.filter((job) => !job.revoked);
    const fields = {
      runnerId: runner.id,
      reason,
      tickets: running.map((job) => String(job.ticket)),
    };
    if (running.length > 0) this.#logger?.warn(fields, "runner lost");
    else this.#logger?.info(fields, "runner disconnected");
    for (const job of lost) void this.#recover(runner, job, reason);
  }

  /**
   * Ends the attempt holding `lease`, freeing its runner's slot. Rejects
   * like TicketStore.finish, with LeaseMismatchError for any caller that
   * does not hold the job.
   */
  async finish(ticket: bigint, lease: string, failure?: JobFailure): Promise<void> {
    const runner = this.#holders.get(ticket);
    const job = runner?.jobs.get(ticket);
    // Finishing a revoked job frees its slot, although the store rejects
    // the finish of a job that was cancelled.
    if (runner && job?.revoked && job.lease?.lease === lease) {
      this.#release(runner, ticket);
    }
    await this.#store.finish(ticket, lease, failure);
    if (runner?.jobs.get(ticket)?.lease?.lease === lease) {
      this.#release(runner, ticket);
    }
  }

  /** Returns the connected runners, in the order they registered. */
  list(): RunnerInfo[] {
    return [...this.#runners.values()].map((runner) => runner.info());
  }

  /** Iterates over the connected runners, in the order they registered. */
  runners(): IterableIterator<RunnerConnection> {
    return this.#runners.values();
  }

  /** Ends every runner stream with UNAVAILABLE and stops the timers. */
  close(): void {
    this.#queue.clear();
    this.#liveness.clear();
    const error = new ServerError(Status.UNAVAILABLE, "server is shutting down");
    for (const runner of this.#runners.values()) {
      for (const job of runner.jobs.values()) clearTimeout(job.releaseTimer);
      runner.close(error);
    }
    this.#runners.clear();
    this.#holders.clear();
  }

  /** Assigns waiting jobs while some runner of their kind has room. */
  #dispatch(): void {
    for (
      let next = nextAssignment(this.#queue, this.#runners);
      next;
      next = nextAssignment(this.#queue, this.#runners)
    ) {
      const { job, runner } = next;
      this.#queue.delete(job.ticket);
      const held: HeldJob = {
        ticket: job.ticket,
        kind: job.kind,
        order: job.order,
        lease: undefined,
        revoked: false,
      };
      runner.jobs.set(job.ticket, held);
      runner.lastAssignment = ++this.#assignments;
      this.#holders.set(job.ticket, runner);
      void this.#start(runner, held);
    }
  }

  /** Starts the attempt in the store, then sends the assignment. */
  async #start(runner: RunnerConnection, job: HeldJob): Promise<void> {
    try {
      job.lease = await this.#store.start(job.ticket);
    } catch (error) {
      // Expected when the job was cancelled on its way out of the queue.
      this.#noteEnded(error, job.ticket, "start");
      this.#release(runner, job.ticket);
      return;
    }
    if (job.revoked) {
      this.#release(runner, job.ticket);
    } else if (runner.closed) {
      // The runner never saw the job, so it goes back to the queue
      // whatever its retry budget. The store has still counted the attempt.
      await this.#retry(runner, job, job.lease);
    } else {
      runner.sendAssignment(job.lease);
    }
  }

  /** Queues a lost runner's job again or fails it, by its retry budget. */
  async #recover(runner: RunnerConnection, job: HeldJob, reason: string): Promise<void> {
    const lease = job.lease;
    if (!lease) return;
    if (lease.attempt <= lease.maxRetries) {
      await this.#retry(runner, job, lease);
      return;
    }
    this.#release(runner, job.ticket);
    await this.#store
      .finish(job.ticket, lease.lease, {
        code: Status.UNAVAILABLE,
        message: `runner lost: ${reason}`,
      })
      // Expected when the runner finished the job, or it was cancelled, first.
      .catch((error: unknown) => this.#noteEnded(error, job.ticket, "fail"));
  }

  /** Puts a job back at the front of its kind's queue. */
  async #retry(runner: RunnerConnection, job: HeldJob, lease: Lease) {
    this.#forget(runner, job.ticket);
    try {
      await this.#store.requeue(job.ticket, lease.lease);
    } catch (error) {
      // Expected when the runner finished the job, or it was cancelled, first.
      this.#noteEnded(error, job.ticket, "requeue");
      return;
    }
    this.#queue.addRetry(job.ticket, job.kind, job.order);
    this.#logger?.info(
      { ticket: String(job.ticket), attempt: lease.attempt, runnerId: runner.id },
      "job queued again after its runner was lost",
    );
    this.#dispatch();
  }

  /** Fails a job that no runner took in time. */
  async #failQueued(job: QueuedJob): Promise<void> {
    const waitedMs = this.#options.queueTimeoutMs;
    this.#logger?.warn(
      { ticket: String(job.ticket), kind: job.kind, waitedMs },
      "job timed out waiting for a runner",
    );
    try {
      await this.#store.failQueued(job.ticket, {
        code: Status.UNAVAILABLE,
        message: `no runner of kind "${job.kind}" took the job within ${waitedMs} ms`,
      });
    } catch (error) {
      // Expected when the job was cancelled meanwhile.
      this.#noteEnded(error, job.ticket, "fail");
    }
  }

  /**
   * Logs why a store call on a job failed: at debug level when the job had
   * ended or gone, which races with runners and consumers make normal, and
   * as an error otherwise.
   */
  #noteEnded(error: unknown, ticket: bigint, action: string): void {
    const fields = { err: error, ticket: String(ticket), action };
    if (error instanceof ConductorError) {
      this.#logger?.debug(fields, "job changed state before the hub could act on it");
    } else {
      this.#logger?.error(fields, "store call failed");
    }
  }

  #timeOut(runner: RunnerConnection): void {
    const timeoutMs = this.#options.runnerTimeoutMs;
    const reason = `no heartbeat or other message from runner ${JSON.stringify(runner.name)} within ${timeoutMs} ms`;
    this.disconnect(
      runner,
      reason,
      new ServerError(
        Status.DEADLINE_EXCEEDED,
        `${reason}; heartbeats are due every ${this.heartbeatIntervalMs} ms`,
      ),
    );
  }

  /** Frees the runner's slot for `ticket` and assigns waiting jobs. */
  #release(runner: RunnerConnection, ticket: bigint): void {
    this.#forget(runner, ticket);
    this.#dispatch();
  }

  #forget(runner: RunnerConnection, ticket: bigint): void {
    clearTimeout(runner.jobs.get(ticket)?.releaseTimer);
    runner.jobs.delete(ticket);
    if (this.#holders.get(ticket) === runner) this.#holders.delete(ticket);
  }
}
