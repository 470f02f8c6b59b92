/**
 * Delays between reconnection attempts: each one doubles the last, up to
 * `maxDelayMs`, and is scaled by a random factor from 0.5 to 1 so that
 * runners do not reconnect in lockstep.
 */
export class Backoff {
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  #failures = 0;

  constructor(initialDelayMs: number, maxDelayMs: number) {
    this.#initialDelayMs = initialDelayMs;
    this.#maxDelayMs = maxDelayMs;
  }

  /** Returns the delay before the next attempt, in milliseconds. */
  next(): number {
    const exponent = Math.min(this.#failures, 30);
    this.#failures += 1;
    const delayMs = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** exponent);
    return delayMs * (0.5 + Math.random() / 2);
  }

  /** Starts over from the initial delay, after a successful connection. */
  reset(): void {
    this.#failures = 0;
  }
}

/** Resolves after `delayMs`, or at once when `signal` aborts. */
export function sleep(delayMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, delayMs);
    signal.addEventListener("abort", done, { once: true });
  });
}
