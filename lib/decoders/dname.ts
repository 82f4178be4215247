/**
 * `dname`: a DNS name in wire format (length-prefixed labels) as dotted
 * text: `\x07example\x03com\x00` → `example.com`. Empty → `.`; a label that
 * overruns the field returns the input unchanged.
 * @module
 */
import { cString, utf8Bytes } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

function latin1(buf: Uint8Array, off: number, end: number): string {
  let s = "";
  for (let i = off; i < end; i++) s += String.fromCharCode(buf[i]);
  return s;
}

/** Decodes a wire-format name in `buf[off, off + len)`. */
export function decodeDname(buf: Uint8Array, off: number, len: number): string {
  const end = off + len;
  const labels: string[] = [];
  let i = off;
  while (i < end) {
    const n = buf[i];
    if (n === 0) break;
    if (i + 1 + n > end) return latin1(buf, off, end);
    labels.push(cString(buf, i + 1, n));
    i += 1 + n;
  }
  return labels.length ? labels.join(".") : ".";
}

/** Creates a `dname` decoder. */
export const dnameDecoder: DecoderFactory = () => ({
  name: "dname",
  bytes: decodeDname,
  text(input) {
    const b = utf8Bytes(input);
    return decodeDname(b, 0, b.length);
  },
});
