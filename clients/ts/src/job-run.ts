import type { Client } from "nice-grpc";
import type { ClientDefinition } from "./definition.js";
import type { ConductorService } from "./gen/conductor/v1/conductor_pb.js";
import type { Payload } from "./gen/conductor/v1/payload_pb.js";
import type { Assignment, RunnerService } from "./gen/conductor/v1/runner_pb.js";
import { failureOf } from "./job-error.js";
import { Pusher } from "./pusher.js";

/** gRPC status codes after which a job's lease can never work again. */
const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;
/** gRPC status code of a job whose results could not all be pushed. */
const UNAVAILABLE = 14;
/**
 * gRPC status codes of a push the server rejected for what it carried: the
 * job ends with the same code, because pushing again would fail again.
 */
const REJECTED_PUSH_CODES: ReadonlySet<unknown> = new Set([
  3, // INVALID_ARGUMENT
  8, // RESOURCE_EXHAUSTED
]);

/** The context a job handler receives with its input. */
export interface JobContext {
  readonly ticket: bigint;
  readonly kind: string;
  /** Attempt number, from 1; higher when an earlier runner was lost. */
  readonly attempt: number;
  /**
   * Aborts when the job is cancelled, when a push fails, when the
   * connection to the server is lost and when the runner closes. The
   * handler should stop soon after: its results are no longer accepted.
   */
  readonly signal: AbortSignal;
  /**
   * Stores results in order and resolves with the sequence of the last
   * one once the server has stored them. Waits while the ticket's buffer
   * is full. Rejects with the server's error, such as FAILED_PRECONDITION
   * once the job was cancelled, and then every later push rejects too.
   */
  push(...payloads: Payload[]): Promise<bigint>;
  /** Reports progress, stored after the results pushed before it. */
  progress(done: number | bigint, total?: number | bigint): Promise<void>;
}

/**
 * The work of one job kind. Resolving ends the job with success once
 * every push has been stored. Throwing ends it with the error's gRPC code
 * (see JobError) and message, after the results pushed before.
 */
export type JobHandler = (input: Payload, context: JobContext) => Promise<void>;

export type ConductorClient = Client<
  ClientDefinition<(typeof ConductorService)["method"]>
>;
export type RunnerClient = Client<ClientDefinition<(typeof RunnerService)["method"]>>;

export interface JobRunClients {
  readonly conductor: ConductorClient;
  readonly runner: RunnerClient;
  readonly onError: (error: unknown) => void;
  /** The server's largest request message; pushes are split to fit it. */
  readonly maxMessageBytes?: number | undefined;
}

/** One attempt of one job on this runner, from assignment to Finish. */
export class JobRun {
  readonly assignment: Assignment;
  readonly #handler: JobHandler;
  readonly #clients: JobRunClients;
  /** Aborts the handler's signal. */
  readonly #job = new AbortController();
  /** Aborts the calls in flight, once the lease is known to be dead. */
  readonly #calls = new AbortController();
  /** Set once the server no longer counts this attempt as running. */
  #ended = false;
  /** Set when the server revoked the job; its slot there is kept until Finish. */
  #revoked = false;

  constructor(assignment: Assignment, handler: JobHandler, clients: JobRunClients) {
    this.assignment = assignment;
    this.#handler = handler;
    this.#clients = clients;
  }

  /**
   * Runs the handler, waits until its pushes are stored, then calls
   * Finish unless the attempt ended first. A revoked job is finished too,
   * once its handler returned, to free its slot on the server. Never
   * rejects.
   */
  async run(): Promise<void> {
    const { ticket, lease, input } = this.assignment;
    const pusher = new Pusher(this.#clients.conductor, ticket, lease, {
      signal: this.#calls.signal,
      onFailure: (error) => this.#job.abort(error),
      maxMessageBytes: this.#clients.maxMessageBytes,
    });
    let failure: { code: number; message: string } | undefined;
    try {
      if (!input) throw new Error("assignment carries no input");
      await this.#handler(input, this.#context(pusher));
    } catch (error) {
      failure = failureOf(error);
    }
    await pusher.flush();
    // A push can fail because the job was cancelled before its Revocation
    // arrives, and that job needs the same Finish to free its slot.
    const closed =
      this.#revoked || (pusher.failure !== undefined && isFinal(pusher.failure.error));
    if (pusher.failure && !closed) {
      const { message } = failureOf(pusher.failure.error);
      const pushCode = codeOf(pusher.failure.error);
      const code = REJECTED_PUSH_CODES.has(pushCode) ? (pushCode as number) : UNAVAILABLE;
      failure ??= { code, message: `pushing results failed: ${message}` };
    }
    await this.#finish(closed ? undefined : failure, closed);
  }

  /** Aborts the handler because the server revoked the job. */
  revoke(reason: string): void {
    this.#revoked = true;
    this.#job.abort(new DOMException(`job revoked: ${reason}`, "AbortError"));
  }

  /**
   * Sends Finish unless the attempt ended. For a `closed` job (revoked or
   * otherwise over) it only reports to the server that the work stopped, which
   * frees a cancelled job's slot there, and the server's rejection is
   * expected.
   */
  async #finish(
    failure: { code: number; message: string } | undefined,
    closed: boolean,
  ): Promise<void> {
    if (this.#ended) return;
    const { ticket, lease } = this.assignment;
    try {
      await this.#clients.runner.finish(
        { ticket, lease, error: failure },
        { signal: this.#calls.signal },
      );
    } catch (error) {
      if (this.#ended || (closed && isFinal(error))) return;
      this.#clients.onError(error);
    }
  }

  /** Aborts the handler and its calls because the lease is dead. */
  abandon(reason: string): void {
    this.#ended = true;
    const error = new DOMException(reason, "AbortError");
    this.#job.abort(error);
    this.#calls.abort(error);
  }

  #context(pusher: Pusher): JobContext {
    const { ticket, kind, attempt } = this.assignment;
    return {
      ticket,
      kind,
      attempt,
      signal: this.#job.signal,
      push: (...payloads) => pusher.push(payloads),
      progress: (done, total = 0) =>
        markHandled(
          pusher
            .push([], { done: BigInt(done), total: BigInt(total) })
            .then(() => undefined),
        ),
    };
  }
}

/**
 * Returns `promise` marked as handled. Handlers may leave progress reports
 * unawaited. A failed push already aborts the job's signal and ends the
 * job, so its rejection must not also end the process as an unhandled one.
 */
function markHandled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Returns whether a failed call shows that the job is over or no longer ours. */
function isFinal(error: unknown): boolean {
  const code = codeOf(error);
  return code === FAILED_PRECONDITION || code === NOT_FOUND;
}

/** Returns the gRPC status code of a call's error; undefined for other errors. */
function codeOf(error: unknown): unknown {
  return (error as { code?: unknown } | null)?.code;
}
