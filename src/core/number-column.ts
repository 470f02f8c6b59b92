/** Capacity of a column after its first push. */
const FIRST_CAPACITY = 16;

/** The values of every column before its first push, so that an empty column allocates nothing. */
const NO_VALUES = new Float64Array(0);

/**
 * A growable list of numbers in a Float64Array. A store keeps a few
 * numbers per result. Pushing them onto plain arrays that grow to
 * hundreds of thousands of entries made storing results about twice as
 * slow when measured.
 */
export class NumberColumn {
  #values = NO_VALUES;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    if (this.#length === this.#values.length) this.#grow();
    this.#values[this.#length++] = value;
  }

  /** Returns the value at `index`, which must be below length. */
  at(index: number): number {
    return this.#values[index] as number;
  }

  /** Removes the first `count` values, moving the rest to the front. */
  dropFront(count: number): void {
    this.#values.copyWithin(0, count, this.#length);
    this.#length -= count;
    if (this.#length * 4 < this.#values.length && this.#values.length > FIRST_CAPACITY) {
      this.#values = this.#values.slice(0, Math.max(FIRST_CAPACITY, this.#length * 2));
    }
  }

  #grow(): void {
    const values = new Float64Array(Math.max(FIRST_CAPACITY, this.#values.length * 2));
    values.set(this.#values);
    this.#values = values;
  }
}
