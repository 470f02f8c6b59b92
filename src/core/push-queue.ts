import type { Payload } from "../gen/conductor/v1/payload_pb.js";
import { PushAbortedError } from "./errors.js";

/** Stores `payloads` from index `start` to `end` and returns the last sequence. */
export type AppendPayloads = (
  payloads: readonly Payload[],
  start: number,
  end: number,
) => number;

interface PendingPush {
  readonly ticket: bigint;
  readonly payloads: readonly Payload[];
  stored: number;
  lastSequence: number;
  readonly resolve: (lastSequence: bigint) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * The pushes of one ticket waiting for buffer room, served strictly in
 * arrival order so that concurrent pushers never interleave their batches.
 */
export class PushQueue {
  #pending: PendingPush[] = [];

  /**
   * Adds a batch and calls `drain` so that it is stored at once when there
   * is room. Resolves with the sequence of its last result once every
   * result is stored; an empty batch resolves with `lastSequence` 0.
   */
  enqueue(
    ticket: bigint,
    payloads: readonly Payload[],
    signal: AbortSignal | undefined,
    drain: () => void,
  ): Promise<bigint> {
    signal?.throwIfAborted();
    return new Promise<bigint>((resolve, reject) => {
      const push: PendingPush = {
        ticket,
        payloads,
        stored: 0,
        lastSequence: 0,
        resolve,
        reject,
        signal,
        onAbort: () => this.#abort(push),
      };
      this.#pending.push(push);
      signal?.addEventListener("abort", push.onAbort, { once: true });
      drain();
    });
  }

  /**
   * Stores up to `room` waiting results through `append`, oldest push
   * first, and settles each push that completes. Returns how many results
   * were stored.
   */
  drain(room: number, append: AppendPayloads): number {
    let stored = 0;
    while (this.#pending.length > 0) {
      const push = this.#pending[0] as PendingPush;
      const end = Math.min(push.payloads.length, push.stored + room - stored);
      if (end > push.stored) {
        push.lastSequence = append(push.payloads, push.stored, end);
        stored += end - push.stored;
        push.stored = end;
      }
      if (push.stored < push.payloads.length) break;
      this.#pending.shift();
      this.#settle(push);
      push.resolve(BigInt(push.lastSequence));
    }
    return stored;
  }

  /** True while some push waits. */
  get waiting(): boolean {
    return this.#pending.length > 0;
  }

  /** Results of waiting pushes not stored yet. */
  get waitingResultCount(): number {
    let count = 0;
    for (const push of this.#pending) count += push.payloads.length - push.stored;
    return count;
  }

  /**
   * Rejects every waiting push with the error `makeError` returns. It is
   * called only when a push waits, because most tickets end with none
   * waiting and an error with its stack trace is costly to make.
   */
  rejectAll(makeError: () => unknown): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    const error = makeError();
    for (const push of pending) {
      this.#settle(push);
      push.reject(error);
    }
  }

  #abort(push: PendingPush): void {
    const index = this.#pending.indexOf(push);
    if (index < 0) return;
    this.#pending.splice(index, 1);
    this.#settle(push);
    push.reject(
      new PushAbortedError(
        push.ticket,
        push.stored,
        push.payloads.length,
        push.signal?.reason,
      ),
    );
  }

  #settle(push: PendingPush): void {
    push.signal?.removeEventListener("abort", push.onAbort);
  }
}
