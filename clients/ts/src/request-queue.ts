/**
 * The requests of a client stream, written by the runner and read by
 * nice-grpc. Closing it half-closes the stream once the queued requests
 * are sent.
 */
export class RequestQueue<T> implements AsyncIterable<T> {
  readonly #requests: T[] = [];
  #wake: (() => void) | undefined;
  #closed = false;

  /** Queues `request`; does nothing once the queue is closed. */
  send(request: T): void {
    if (this.#closed) return;
    this.#requests.push(request);
    this.#notify();
  }

  close(): void {
    this.#closed = true;
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const request = this.#requests.shift();
      if (request !== undefined) {
        yield request;
      } else if (this.#closed) {
        return;
      } else {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
