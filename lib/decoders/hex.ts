/**
 * `hex`: raw bytes as lowercase hex (used for trace and span ids).
 * @module
 */
import { hexOf } from "../core/hex.ts";
import { utf8Bytes } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `hex` decoder. */
export const hexDecoder: DecoderFactory = () => ({
  name: "hex",
  bytes: hexOf,
  text(input) {
    const b = utf8Bytes(input);
    return hexOf(b, 0, b.length);
  },
});
