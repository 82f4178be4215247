/**
 * Random trace and span ids as lowercase hex, drawn in blocks from the CSPRNG.
 * @module
 */

const HEX: string[] = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);
const POOL_BYTES = 64 * 1024;
let pool = new Uint8Array(POOL_BYTES);
let poolPos = POOL_BYTES;

// hex digit char codes of every byte value, two per byte
const HEX_CODES = new Uint16Array(512);
for (let i = 0; i < 256; i++) {
  HEX_CODES[2 * i] = HEX[i].charCodeAt(0);
  HEX_CODES[2 * i + 1] = HEX[i].charCodeAt(1);
}
const CODES: Record<number, Uint16Array> = { 8: new Uint16Array(16), 16: new Uint16Array(32) };

/** Hex of `bytes` random bytes as one flat string (no concatenation chain to flatten later). */
function hexFromPool(bytes: number): string {
  const codes = CODES[bytes];
  for (;;) {
    if (poolPos + bytes > POOL_BYTES) {
      pool = crypto.getRandomValues(new Uint8Array(POOL_BYTES));
      poolPos = 0;
    }
    let any = 0;
    for (let i = 0; i < bytes; i++) {
      const b = pool[poolPos++];
      any |= b;
      codes[2 * i] = HEX_CODES[2 * b];
      codes[2 * i + 1] = HEX_CODES[2 * b + 1];
    }
    // all-zero ids are invalid in OTLP
    if (any !== 0) return String.fromCharCode.apply(null, codes as unknown as number[]);
  }
}

/** A random, non-zero 16-byte trace id as 32 hex characters. */
export function newTraceId(): string {
  return hexFromPool(16);
}

/** A random, non-zero 8-byte span id as 16 hex characters. */
export function newSpanId(): string {
  return hexFromPool(8);
}

/** Lowercase hex of `bytes` (any length). */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
  return out;
}

/** Whether a hex id is all zeros (OTLP: invalid / absent). */
export function isZeroId(hex: string): boolean {
  return /^0*$/.test(hex);
}
