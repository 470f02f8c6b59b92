import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { readVarint, varintSize, writeVarint } from "../src/core/varint.js";

const VALUES = [
  0,
  1,
  127,
  128,
  300,
  16_383,
  16_384,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 40,
  2 ** 53 - 1,
];

describe("writeVarint", () => {
  it.each(VALUES)("writes %d as protobuf-es does", (value) => {
    const out = new Uint8Array(10);

    const end = writeVarint(out, 0, value);

    expect(out.subarray(0, end)).toEqual(new BinaryWriter().uint64(value).finish());
  });
});

describe("varintSize", () => {
  it.each(VALUES)("measures %d as writeVarint writes it", (value) => {
    expect(varintSize(value)).toBe(writeVarint(new Uint8Array(10), 0, value));
  });
});

describe("readVarint", () => {
  it.each(VALUES)("reads back %d from writeVarint", (value) => {
    const bytes = new Uint8Array(11);
    const end = writeVarint(bytes, 1, value);

    expect(readVarint(bytes, 1)).toEqual({ value, next: end });
  });
});
