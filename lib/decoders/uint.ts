/**
 * `uint`: an unsigned host-order integer of 1, 2, 4 or 8 bytes as decimal.
 * Alone in a chain it yields a typed value: a number when exact, a bigint
 * up to 2^63 − 1 (OTLP integers are signed 64-bit), else decimal text.
 * @module
 */
import { readUint, utf8Bytes } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

const INT64_MAX = (1n << 63n) - 1n;

/** Creates a `uint` decoder. */
export const uintDecoder: DecoderFactory = () => ({
  name: "uint",
  bytes: (buf, off, len) => String(readUint(buf, off, len)),
  text(input) {
    const b = utf8Bytes(input);
    return String(readUint(b, 0, b.length));
  },
  value(buf, off, len) {
    const v = readUint(buf, off, len);
    if (typeof v === "number") return v;
    return v <= INT64_MAX ? v : v.toString();
  },
});
