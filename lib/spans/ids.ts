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

function hexFromPool(bytes: number): string {
  for (;;) {
    if (poolPos + bytes > POOL_BYTES) {
      pool = crypto.getRandomValues(new Uint8Array(POOL_BYTES));
      poolPos = 0;
    }
    let out = "";
    let zero = true;
    for (let i = 0; i < bytes; i++) {
      const b = pool[poolPos++];
      if (b !== 0) zero = false;
      out += HEX[b];
    }
    if (!zero) return out; // all-zero ids are invalid in OTLP
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
