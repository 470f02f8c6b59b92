import { MAX_TIMER_MS } from "./timers.js";

/** Number of waits across many lists, for diagnostics and metrics. */
export interface WaitCount {
  value: number;
}

/** Callbacks to run when a signal aborts, for signals that waits listen to. */
const abortCallbacks = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Runs `callback` once `signal` aborts and returns a function that
 * cancels that. A stream's signal sees a wait per message, so each signal
 * gets a single event listener the first time, because adding and removing
 * one per wait cost more than the rest of a wake-up.
 */
function listenForAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = abortCallbacks.get(signal);
  if (!callbacks) {
    const created = new Set<() => void>();
    abortCallbacks.set(signal, created);
    const runAll = () => {
      for (const run of [...created]) run();
    };
    signal.addEventListener("abort", runAll, { once: true });
    callbacks = created;
  }
  const registered = callbacks;
  registered.add(callback);
  return () => registered.delete(callback);
}

/**
 * The reads of one ticket that wait for a change, woken oldest first.
 * A wait ends on a wake-up, on its timeout, or by rejecting when its
 * signal aborts.
 */
export class WaitList {
  readonly #waiters = new Set<() => void>();
  readonly #count: WaitCount;

  constructor(count: WaitCount) {
    this.#count = count;
  }

  /**
   * Waits up to `timeoutMs` for a wake-up. `onAbort` runs when the signal
   * ends the wait, so that a wake-up meant for it can be passed on.
   */
  wait(timeoutMs: number, signal?: AbortSignal, onAbort?: () => void): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const cleanUp = () => {
        clearTimeout(timer);
        if (this.#waiters.delete(wake)) this.#count.value -= 1;
        stopListening?.();
      };
      const wake = () => {
        cleanUp();
        resolve();
      };
      const abort = () => {
        cleanUp();
        onAbort?.();
        reject(signal?.reason);
      };
      // setTimeout fires at once for delays past 2^31-1 ms, so a wait
      // without a finite limit sets no timer at all.
      const timer = timeoutMs <= MAX_TIMER_MS ? setTimeout(wake, timeoutMs) : undefined;
      this.#waiters.add(wake);
      this.#count.value += 1;
      const stopListening = signal && listenForAbort(signal, abort);
    });
  }

  /** Wakes up to `limit` waits, oldest first; all of them by default. */
  wake(limit = Number.POSITIVE_INFINITY): void {
    let woken = 0;
    for (const wake of [...this.#waiters]) {
      if (woken++ >= limit) break;
      wake();
    }
  }
}
