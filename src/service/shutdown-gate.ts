import {
  type CallContext,
  ServerError,
  type ServerMiddleware,
  type ServerMiddlewareCall,
  Status,
} from "nice-grpc";
import { ErrorInfo, RichServerError } from "nice-grpc-error-details";
import { ERROR_DOMAIN } from "./status.js";

/** Calls that bring new work, rejected with UNAVAILABLE while draining. */
const NEW_WORK: ReadonlyMap<string, string> = new Map([
  ["/conductor.v1.ConductorService/Exec", "takes no new jobs"],
  ["/conductor.v1.RunnerService/Connect", "takes no new runners"],
]);

const SUBSCRIBE = "/conductor.v1.ConductorService/Subscribe";

/**
 * The server side of a graceful shutdown. Its middleware tracks every call
 * and, once draining starts, rejects calls that bring new work. endCalls
 * then ends the calls still open with UNAVAILABLE, whether or not their
 * handlers watch the abort signal. Both errors carry the ErrorInfo reason
 * SHUTTING_DOWN, so that clients can tell them from a lost connection.
 */
export class ShutdownGate {
  readonly #calls = new Set<AbortController>();
  #subscriberCount = 0;
  #draining = false;
  /** Abort reason of the calls ended by endCalls; set once they are. */
  #endReason: Error | undefined;
  #waiters: { ready: () => boolean; resolve: () => void }[] = [];

  get draining(): boolean {
    return this.#draining;
  }

  /** Open Subscribe streams. */
  get subscriberCount(): number {
    return this.#subscriberCount;
  }

  /** Calls whose handlers have not returned yet. */
  get openCallCount(): number {
    return this.#calls.size;
  }

  /** Rejects Exec and runner Connect calls from now on. */
  startDraining(): void {
    this.#draining = true;
  }

  /** Resolves once no Subscribe stream is open. */
  whenNoSubscribers(): Promise<void> {
    return this.#when(() => this.#subscriberCount === 0);
  }

  /** Resolves once every call has returned its status. */
  whenNoCalls(): Promise<void> {
    return this.#when(() => this.#calls.size === 0);
  }

  /**
   * Ends every open call, and every call that arrives later, with
   * UNAVAILABLE and `message`.
   */
  endCalls(message: string): void {
    this.#draining = true;
    // Handlers treat an AbortError as a cancelled call, not as a failure.
    const reason = new DOMException(message, "AbortError");
    this.#endReason = reason;
    for (const controller of this.#calls) controller.abort(reason);
  }

  /** The middleware; place it before the error middleware. */
  readonly middleware: ServerMiddleware = (call, context) => this.#gate(call, context);

  async *#gate<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    this.#admit(call.method.path);
    const controller = new AbortController();
    const forwardAbort = () => controller.abort(context.signal.reason);
    context.signal.addEventListener("abort", forwardAbort, { once: true });
    const isSubscribe = call.method.path === SUBSCRIBE;
    this.#calls.add(controller);
    if (isSubscribe) this.#subscriberCount += 1;
    try {
      const inner: AsyncGenerator<Response, Response | void, undefined> = call.next(
        call.request,
        { ...context, signal: controller.signal },
      );
      return yield* untilAborted(inner, controller.signal);
    } catch (error) {
      if (this.#endReason && controller.signal.reason === this.#endReason) {
        throw shuttingDown(this.#endReason.message);
      }
      if (context.signal.aborted)
        throw new ServerError(Status.CANCELLED, "call cancelled");
      throw error;
    } finally {
      context.signal.removeEventListener("abort", forwardAbort);
      this.#calls.delete(controller);
      if (isSubscribe) this.#subscriberCount -= 1;
      this.#wakeWaiters();
    }
  }

  #admit(path: string): void {
    if (this.#endReason) throw shuttingDown(this.#endReason.message);
    const rejection = this.#draining ? NEW_WORK.get(path) : undefined;
    if (rejection) throw shuttingDown(`server is shutting down and ${rejection}`);
  }

  #when(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ ready, resolve }));
  }

  #wakeWaiters(): void {
    const waiting = this.#waiters;
    this.#waiters = waiting.filter((waiter) => !waiter.ready());
    for (const waiter of waiting) if (waiter.ready()) waiter.resolve();
  }
}

function shuttingDown(message: string): ServerError {
  const info = ErrorInfo.fromPartial({ reason: "SHUTTING_DOWN", domain: ERROR_DOMAIN });
  return new RichServerError(Status.UNAVAILABLE, message, [info]);
}

/**
 * Yields what `source` yields until `signal` aborts, then throws its
 * reason at once, even while `source` is still waiting for something.
 */
async function* untilAborted<T, R>(
  source: AsyncGenerator<T, R, undefined>,
  signal: AbortSignal,
): AsyncGenerator<T, R, undefined> {
  let finished = false;
  // One abort listener serves the whole stream: adding and removing one
  // per message cost more than everything else the gate does.
  let rejectStep: ((reason: unknown) => void) | undefined;
  const onAbort = () => rejectStep?.(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const next = source.next();
      if (signal.aborted) {
        next.catch(() => undefined);
        throw signal.reason;
      }
      const step = await new Promise<IteratorResult<T, R>>((resolve, reject) => {
        rejectStep = reject;
        next.then(resolve, reject);
      });
      rejectStep = undefined;
      if (step.done) {
        finished = true;
        return step.value;
      }
      yield step.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (!finished) {
      // When aborted, `source` may still be running, so its cleanup is not
      // awaited; any error it ends with has nowhere to go.
      const cleanup = source.return(undefined as R).catch(() => undefined);
      if (!signal.aborted) await cleanup;
    }
  }
}
