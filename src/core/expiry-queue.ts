import { MAX_TIMER_MS } from "./timers.js";

/**
 * One timer for many deadlines: a min-heap of (time, key) pairs and a
 * single unref'd timeout armed for the earliest one.
 *
 * A deadline can move later without touching the heap: when an entry comes
 * due, `check` returns the key's current deadline and the entry is pushed
 * back if that is still in the future. So a refresh costs nothing until
 * the old deadline arrives.
 */
export class ExpiryQueue<K> {
  readonly #heap: { atMs: number; key: K }[] = [];
  readonly #check: (key: K, nowMs: number) => number | undefined;
  readonly #expire: (key: K) => void;
  #timer: NodeJS.Timeout | undefined;
  #armedAtMs = Number.POSITIVE_INFINITY;

  /**
   * @param check returns the key's deadline now, or undefined when the key
   *   no longer needs one (it was removed or became active again).
   * @param expire is called once for each key whose deadline has passed.
   */
  constructor(
    check: (key: K, nowMs: number) => number | undefined,
    expire: (key: K) => void,
  ) {
    this.#check = check;
    this.#expire = expire;
  }

  get size(): number {
    return this.#heap.length;
  }

  schedule(key: K, atMs: number): void {
    this.#push({ atMs, key });
    if (atMs < this.#armedAtMs) this.#arm(atMs);
  }

  /** Stops the timer and drops every deadline. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAtMs = Number.POSITIVE_INFINITY;
    this.#heap.length = 0;
  }

  #arm(atMs: number): void {
    clearTimeout(this.#timer);
    this.#armedAtMs = atMs;
    // A capped timer fires early, finds nothing due and arms again.
    const delayMs = Math.min(Math.max(0, atMs - Date.now()), MAX_TIMER_MS);
    this.#timer = setTimeout(() => this.#fire(), delayMs);
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedAtMs = Number.POSITIVE_INFINITY;
    const nowMs = Date.now();
    for (let top = this.#heap[0]; top && top.atMs <= nowMs; top = this.#heap[0]) {
      this.#pop();
      const deadlineMs = this.#check(top.key, nowMs);
      if (deadlineMs === undefined) continue;
      if (deadlineMs > nowMs) this.#push({ atMs: deadlineMs, key: top.key });
      else this.#expire(top.key);
    }
    const next = this.#heap[0];
    if (next) this.#arm(next.atMs);
  }

  #push(entry: { atMs: number; key: K }): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as typeof entry).atMs <= entry.atMs) break;
      heap[i] = heap[parent] as typeof entry;
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length &&
        (heap[right] as typeof last).atMs < (heap[left] as typeof last).atMs
          ? right
          : left;
      if ((heap[child] as typeof last).atMs >= last.atMs) break;
      heap[i] = heap[child] as typeof last;
      i = child;
    }
    heap[i] = last;
  }
}
