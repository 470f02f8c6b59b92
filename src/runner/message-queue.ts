/**
 * An unbounded queue of messages read by one async consumer. Closing it
 * ends the iteration after the messages already queued, or throws `error`
 * once they are read.
 */
export class MessageQueue<T> implements AsyncIterable<T> {
  readonly #messages: T[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #error: unknown;

  get closed(): boolean {
    return this.#closed;
  }

  /** Messages queued and not yet read. */
  get size(): number {
    return this.#messages.length;
  }

  /** Queues `message`; does nothing once the queue is closed. */
  send(message: T): void {
    if (this.#closed) return;
    this.#messages.push(message);
    this.#notify();
  }

  /** Ends the iteration, with `error` when one is given. */
  close(error?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const message = this.#messages.shift();
      if (message !== undefined) {
        yield message;
        continue;
      }
      if (this.#closed) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#error !== undefined) throw this.#error;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
