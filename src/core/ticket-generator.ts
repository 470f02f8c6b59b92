import { createHmac, randomBytes } from "node:crypto";

const MASK_32 = 0xffffffffn;
const ROUNDS = 4;

/**
 * Issues 64-bit tickets that are unique for the generator's lifetime and
 * cannot be guessed from one another.
 *
 * A counter goes through a keyed Feistel network (HMAC-SHA-256 rounds with a
 * random per-process key). A Feistel network is a permutation, so distinct
 * counters give distinct tickets without remembering the ones issued.
 * Zero is skipped because it means "unset" in protobuf.
 */
export class TicketGenerator {
  readonly #key = randomBytes(32);
  #counter = 0n;

  /** Returns the next ticket, never 0. */
  next(): bigint {
    for (;;) {
      const ticket = this.#permute(this.#counter++);
      if (ticket !== 0n) return ticket;
    }
  }

  /**
   * Returns the counter a ticket of this generator was issued from, so that
   * tickets compare in the order they were issued. Other 64-bit values map
   * to some counter too, as the network is a permutation.
   */
  orderOf(ticket: bigint): bigint {
    let left = (ticket >> 32n) & MASK_32;
    let right = ticket & MASK_32;
    for (let round = ROUNDS - 1; round >= 0; round--) {
      const previous = right ^ this.#round(round, left);
      right = left;
      left = previous;
    }
    return (left << 32n) | right;
  }

  #permute(value: bigint): bigint {
    let left = (value >> 32n) & MASK_32;
    let right = value & MASK_32;
    for (let round = 0; round < ROUNDS; round++) {
      const next = left ^ this.#round(round, right);
      left = right;
      right = next;
    }
    return (left << 32n) | right;
  }

  #round(round: number, half: bigint): bigint {
    const digest = createHmac("sha256", this.#key).update(`${round}:${half}`).digest();
    return BigInt(digest.readUInt32BE(0));
  }
}
