import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ExpiryQueue } from "../src/core/expiry-queue.js";

describe("ExpiryQueue", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires keys in deadline order with one timer", () => {
    const deadlines = new Map<string, number>();
    const expired: string[] = [];
    const queue = new ExpiryQueue<string>(
      (key) => deadlines.get(key),
      (key) => expired.push(key),
    );
    const now = Date.now();
    for (const [key, delay] of [
      ["c", 300],
      ["a", 100],
      ["b", 200],
    ] as const) {
      deadlines.set(key, now + delay);
      queue.schedule(key, now + delay);
    }

    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(150);
    expect(expired).toEqual(["a"]);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual(["a", "b", "c"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("waits for a deadline that moved later", () => {
    const deadlines = new Map<string, number>();
    const expired: string[] = [];
    const queue = new ExpiryQueue<string>(
      (key) => deadlines.get(key),
      (key) => expired.push(key),
    );
    const now = Date.now();
    deadlines.set("a", now + 100);
    queue.schedule("a", now + 100);

    deadlines.set("a", now + 500);
    vi.advanceTimersByTime(200);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(300);
    expect(expired).toEqual(["a"]);
  });

  it("skips a key whose deadline was dropped", () => {
    const expired: string[] = [];
    const queue = new ExpiryQueue<string>(
      () => undefined,
      (key) => expired.push(key),
    );
    queue.schedule("gone", Date.now() + 10);

    vi.advanceTimersByTime(20);

    expect(expired).toEqual([]);
    expect(queue.size).toBe(0);
  });

  it("expires 10,000 keys and keeps no timer", () => {
    const expired = new Set<number>();
    const now = Date.now();
    const queue = new ExpiryQueue<number>(
      (key) => now + (key % 100),
      (key) => expired.add(key),
    );
    for (let key = 0; key < 10_000; key++) queue.schedule(key, now + (key % 100));

    vi.advanceTimersByTime(100);

    expect(expired.size).toBe(10_000);
    expect(queue.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("ExpiryQueue far deadlines", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("caps its timer at the longest delay Node honours", () => {
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    const queue = new ExpiryQueue<string>(
      () => undefined,
      () => {},
    );

    queue.schedule("far", Date.now() + 3_000_000_000);
    queue.clear();

    const delays = setTimeoutSpy.mock.calls.map((call) => call[1] ?? 0);
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeLessThanOrEqual(2 ** 31 - 1);
  });
});
