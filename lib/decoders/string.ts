/**
 * `string`: a NUL-terminated (or field-sized) kernel string, UTF-8.
 * @module
 */
import { cString } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `string` decoder. */
export const stringDecoder: DecoderFactory = () => ({
  name: "string",
  bytes: cString,
  text(input) {
    const nul = input.indexOf("\0");
    return nul < 0 ? input : input.slice(0, nul);
  },
});
