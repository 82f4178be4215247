/**
 * Bytes as lowercase hex, fast: ids, keys and byte attributes all print this way.
 * @module
 */

/** Two lowercase hex digits per byte value. */
export const HEX_BYTE: readonly string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

const DIGITS = "0123456789abcdef";
const HI = new Uint16Array(256);
const LO = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  HI[i] = DIGITS.charCodeAt(i >> 4);
  LO[i] = DIGITS.charCodeAt(i & 15);
}

const codeArrays: number[][] = [];
/**
 * A reusable char-code array of length `n` (at most {@linkcode MAX_APPLY}) for
 * `String.fromCharCode.apply`: one string allocation per call, where
 * concatenation makes one per character. Overwritten by the next caller.
 */
export function charCodes(n: number): number[] {
  return codeArrays[n] ??= new Array<number>(n).fill(0);
}
/** The longest array {@linkcode charCodes} hands out for `String.fromCharCode.apply`. */
export const MAX_APPLY = 512;

/** Lowercase hex of `buf[off, off + len)`. */
export function hexOf(buf: Uint8Array, off: number, len: number): string {
  if (2 * len > MAX_APPLY) {
    let out = "";
    for (let i = off, end = off + len; i < end; i++) out += HEX_BYTE[buf[i]];
    return out;
  }
  const c = charCodes(2 * len);
  for (let i = 0; i < len; i++) {
    const b = buf[off + i];
    c[2 * i] = HI[b];
    c[2 * i + 1] = LO[b];
  }
  return String.fromCharCode.apply(null, c);
}
