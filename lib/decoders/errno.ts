/**
 * `errno`: an errno number as its symbolic name (`ENOENT`); unknown numbers
 * become `unknown:<n>`. Zero (no error) becomes `OK`.
 * @module
 */
import { errnoName } from "../ffi/errno_names.ts";
import { numericText, parseUintText } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates an `errno` decoder. */
export const errnoDecoder: DecoderFactory = () => {
  const text = (input: string) => {
    const n = parseUintText(input, "errno");
    if (n === 0) return "OK";
    return errnoName(n) ?? `unknown:${n}`;
  };
  return {
    name: "errno",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
