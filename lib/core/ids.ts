/**
 * Random trace and span ids as lowercase hex, drawn in blocks from the CSPRNG.
 *
 * An id is a slice of a 64 KiB hex pool and keeps that pool alive: draw ids
 * for spans about to be exported, not for state held for long.
 * @module
 */

const POOL_BYTES = 32 * 1024;
const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");
// hex digits are ASCII: decoding them as Latin-1 makes a flat one-byte string
const latin1 = new TextDecoder("latin1");
let pool = new Uint8Array(0);
let poolHex = "";
let poolPos = 0;

function refill(): void {
  pool = crypto.getRandomValues(new Uint8Array(POOL_BYTES));
  const codes = new Uint8Array(2 * POOL_BYTES);
  for (let i = 0; i < POOL_BYTES; i++) {
    codes[2 * i] = HEX_DIGITS[pool[i] >> 4];
    codes[2 * i + 1] = HEX_DIGITS[pool[i] & 15];
  }
  poolHex = latin1.decode(codes);
  poolPos = 0;
}

/**
 * Hex of `bytes` random bytes: a slice of a pool drawn from the CSPRNG and
 * hex-encoded in one go (a slice costs no copy). Each byte is used once.
 */
function hexFromPool(bytes: number): string {
  for (;;) {
    if (poolPos + bytes > pool.length) refill();
    const at = poolPos;
    poolPos += bytes;
    let any = 0;
    for (let i = at; i < poolPos; i++) any |= pool[i];
    // all-zero ids are invalid in OTLP
    if (any !== 0) return poolHex.slice(2 * at, 2 * poolPos);
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

/** Whether a hex id is all zeros (OTLP: invalid / absent). */
export function isZeroId(hex: string): boolean {
  return /^0*$/.test(hex);
}
