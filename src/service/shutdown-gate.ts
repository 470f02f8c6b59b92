import { type CallContext, Status } from "nice-grpc";
import { ErrorInfo, RichServerError } from "nice-grpc-error-details";
import { ERROR_DOMAIN } from "./status.js";

/** Calls that bring new work, rejected with UNAVAILABLE while draining. */
const NEW_WORK: ReadonlyMap<string, string> = new Map([
  ["/conductor.v1.ConductorService/Exec", "takes no new jobs"],
  ["/conductor.v1.RunnerService/Connect", "takes no new runners"],
]);

const SUBSCRIBE = "/conductor.v1.ConductorService/Subscribe";

/**
 * One call admitted through the gate. Its signal aborts when the client
 * goes away or when the gate ends every call, and `race` lets the call's
 * handler be abandoned when the gate ends it, even if the handler waits on
 * something that never ends.
 *
 * The signal is made only when the handler reads it: an AbortController
 * per call was a measurable part of a unary call's cost, and a handler that
 * never reads the signal cannot wait on it.
 */
export class GatedCall {
  readonly path: string;
  readonly #clientSignal: AbortSignal;
  #controller: AbortController | undefined;
  #forwardAbort: (() => void) | undefined;
  /** Set once the gate ended the call, to the reason it gave. */
  #endReason: unknown;
  #ended = false;
  /** Rejects the step `race` is waiting for, if any. */
  #rejectStep: ((reason: unknown) => void) | undefined;

  constructor(path: string, clientSignal: AbortSignal) {
    this.path = path;
    this.#clientSignal = clientSignal;
  }

  /** Aborts when the client goes away or the gate ends the call. */
  get signal(): AbortSignal {
    if (!this.#controller) this.#controller = this.#makeController();
    return this.#controller.signal;
  }

  /** True once the client went away or the gate ended the call. */
  get aborted(): boolean {
    return this.#ended || this.#clientSignal.aborted;
  }

  /** The reason the gate gave when it ended the call; undefined while it has not. */
  get endReason(): unknown {
    return this.#endReason;
  }

  /** `context` with this call's signal in place of the client's. */
  contextFor<C extends CallContext>(context: C): C {
    const call = this;
    return {
      ...context,
      get signal() {
        return call.signal;
      },
    };
  }

  /**
   * Resolves or rejects as `step` does, or rejects with the gate's reason
   * once the gate ends the call, whichever comes first.
   */
  race<T>(step: Promise<T>): Promise<T> {
    if (this.#ended) {
      step.catch(() => undefined);
      return Promise.reject(this.#endReason);
    }
    // A stale #rejectStep belongs to a settled promise, where rejecting
    // does nothing, so it need not be cleared after each step.
    return new Promise<T>((resolve, reject) => {
      this.#rejectStep = reject;
      step.then(resolve, reject);
    });
  }

  /** Ends the call for `reason`: its signal aborts and `race` rejects. */
  end(reason: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#endReason = reason;
    this.#controller?.abort(reason);
    this.#rejectStep?.(reason);
  }

  /** Stops following the client's signal; the call has ended. */
  release(): void {
    if (this.#forwardAbort) {
      this.#clientSignal.removeEventListener("abort", this.#forwardAbort);
    }
  }

  #makeController(): AbortController {
    const controller = new AbortController();
    if (this.#ended) {
      controller.abort(this.#endReason);
    } else if (this.#clientSignal.aborted) {
      controller.abort(this.#clientSignal.reason);
    } else {
      this.#forwardAbort = () => controller.abort(this.#clientSignal.reason);
      this.#clientSignal.addEventListener("abort", this.#forwardAbort, { once: true });
    }
    return controller;
  }
}

/**
 * The server side of a graceful shutdown. It tracks every call and, once
 * draining starts, rejects calls that bring new work. endCalls then ends
 * the calls still open with UNAVAILABLE, whether or not their handlers
 * watch the abort signal. Both errors carry the ErrorInfo reason
 * SHUTTING_DOWN, so that clients can tell them from a lost connection.
 */
export class ShutdownGate {
  readonly #calls = new Set<GatedCall>();
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
    for (const call of this.#calls) call.end(reason);
  }

  /**
   * Admits a call to `path` whose client side aborts `clientSignal`.
   * Throws the UNAVAILABLE error to send when the gate rejects it.
   */
  open(path: string, clientSignal: AbortSignal): GatedCall {
    if (this.#endReason) throw shuttingDown(this.#endReason.message);
    const rejection = this.#draining ? NEW_WORK.get(path) : undefined;
    if (rejection) throw shuttingDown(`server is shutting down and ${rejection}`);
    const call = new GatedCall(path, clientSignal);
    this.#calls.add(call);
    if (path === SUBSCRIBE) this.#subscriberCount += 1;
    return call;
  }

  /** Forgets a call whose handler has returned. */
  close(call: GatedCall): void {
    call.release();
    if (!this.#calls.delete(call)) return;
    if (call.path === SUBSCRIBE) this.#subscriberCount -= 1;
    this.#wakeWaiters();
  }

  /** Returns the UNAVAILABLE error for `call` when endCalls ended it, or undefined. */
  endedError(call: GatedCall): RichServerError | undefined {
    if (!this.#endReason || call.endReason !== this.#endReason) return undefined;
    return shuttingDown(this.#endReason.message);
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

function shuttingDown(message: string): RichServerError {
  const info = ErrorInfo.fromPartial({ reason: "SHUTTING_DOWN", domain: ERROR_DOMAIN });
  return new RichServerError(Status.UNAVAILABLE, message, [info]);
}
