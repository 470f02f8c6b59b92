/** Varint helpers for the hand-written protobuf encoders. */

/** Bytes a non-negative integer below 2^53 takes as a varint. */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size += 1;
  }
  return size;
}

/** Writes a non-negative integer below 2^53 as a varint; returns the next offset. */
export function writeVarint(out: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[offset++] = value;
  return offset;
}

/**
 * Reads a varint below 2^53 at `offset` of bytes this process wrote, so it
 * does no bounds or range checks. Returns the value and the offset after it.
 */
export function readVarint(
  bytes: Uint8Array,
  offset: number,
): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = bytes[offset++] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: offset };
    scale *= 128;
  }
}
