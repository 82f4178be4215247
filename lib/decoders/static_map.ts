/**
 * `static_map`: replaces the input by its entry in `static_map`; unknown
 * inputs become `unknown:<input>`, or pass through with `allow_unknown`.
 * Raw input (first in a chain) is read as a number when 1/2/4/8 bytes.
 * @module
 */
import { numericText } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `static_map` decoder; throws when `static_map` is missing. */
export const staticMapDecoder: DecoderFactory = (config) => {
  const raw = config.static_map;
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error("static_map decoder needs a `static_map` mapping of input to output");
  }
  const map = new Map<string, string>();
  for (const [k, v] of Object.entries(raw)) map.set(String(k), String(v));
  const allowUnknown = config.allow_unknown === true;
  const text = (input: string) => map.get(input) ?? (allowUnknown ? input : `unknown:${input}`);
  return {
    name: "static_map",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
