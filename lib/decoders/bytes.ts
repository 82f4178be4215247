/**
 * Byte helpers shared by decoders: host-order (little-endian) integers,
 * C strings (hex lives in `core/hex.ts`).
 * @module
 */
import { charCodes, MAX_APPLY } from "../core/hex.ts";
import { DecodeError } from "./types.ts";

/** Unsigned little-endian integer of 1, 2, 4 or 8 bytes, as a number when exact, else bigint. */
export function readUint(buf: Uint8Array, off: number, len: number): number | bigint {
  switch (len) {
    case 1:
      return buf[off];
    case 2:
      return buf[off] | (buf[off + 1] << 8);
    case 4:
      return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)) + buf[off + 3] * 0x1000000;
    case 8: {
      const lo = (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)) + buf[off + 3] * 0x1000000;
      const hi = (buf[off + 4] | (buf[off + 5] << 8) | (buf[off + 6] << 16)) +
        buf[off + 7] * 0x1000000;
      if (hi < 0x200000) return hi * 0x100000000 + lo;
      return (BigInt(hi) << 32n) | BigInt(lo);
    }
    default:
      throw new DecodeError(`unsigned integer of ${len} bytes (expected 1, 2, 4 or 8)`);
  }
}

/** Unsigned little-endian 64-bit integer as bigint. */
export function readU64(buf: Uint8Array, off: number): bigint {
  const v = readUint(buf, off, 8);
  return typeof v === "bigint" ? v : BigInt(v);
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** The C string in `buf[off, off + len)`: up to the first NUL, UTF-8 (invalid bytes → U+FFFD). */
export function cString(buf: Uint8Array, off: number, len: number): string {
  const end = off + len;
  let ascii = true;
  let i = off;
  for (; i < end; i++) {
    const b = buf[i];
    if (b === 0) break;
    if (b > 0x7f) ascii = false;
  }
  if (!ascii) return utf8.decode(buf.subarray(off, i));
  const n = i - off;
  if (n === 0) return "";
  if (n > MAX_APPLY) return utf8.decode(buf.subarray(off, i));
  const c = charCodes(n);
  for (let j = 0; j < n; j++) c[j] = buf[off + j];
  return String.fromCharCode.apply(null, c);
}

/** UTF-8 bytes of `s`. */
export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Parses a decimal unsigned integer (a previous decoder's output). */
export function parseUintText(s: string, decoder: string): number {
  if (!/^\d+$/.test(s)) {
    throw new DecodeError(`${decoder}: expected an unsigned integer, got ${JSON.stringify(s)}`);
  }
  return Number(s);
}

/**
 * The input of a decoder that works on numbers: raw bytes (1, 2, 4 or 8,
 * host order) as a decimal string, other sizes as a C string.
 */
export function numericText(buf: Uint8Array, off: number, len: number): string {
  if (len === 1 || len === 2 || len === 4 || len === 8) return String(readUint(buf, off, len));
  return cString(buf, off, len);
}
