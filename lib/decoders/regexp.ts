/**
 * `regexp`: keeps the record only when the input matches one of `regexps`
 * (JavaScript syntax, unanchored); otherwise the record is skipped, not
 * counted as an error.
 * @module
 */
import { cString } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `regexp` decoder; throws on a missing list or an invalid expression. */
export const regexpDecoder: DecoderFactory = (config) => {
  const list = config.regexps;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error("regexp decoder needs a non-empty `regexps` list");
  }
  const res = list.map((src) => {
    try {
      return new RegExp(String(src));
    } catch (e) {
      throw new Error(`invalid regexp ${JSON.stringify(src)}: ${(e as Error).message}`);
    }
  });
  const text = (input: string) => res.some((re) => re.test(input)) ? input : null;
  return {
    name: "regexp",
    bytes: (buf, off, len) => text(cString(buf, off, len)),
    text,
  };
};
