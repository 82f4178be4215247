/**
 * `inet_ip`: a 4-byte IPv4 or 16-byte IPv6 address (network order) as text,
 * as Go's `net.IP.String` prints it (IPv4-mapped IPv6 as dotted quad,
 * the longest run of zero groups compressed).
 * @module
 */
import { utf8Bytes } from "./bytes.ts";
import { DecodeError, type DecoderFactory } from "./types.ts";

/** Formats the address in `buf[off, off + len)`. */
export function formatIp(buf: Uint8Array, off: number, len: number): string {
  if (len === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  if (len !== 16) throw new DecodeError(`inet_ip: address of ${len} bytes (expected 4 or 16)`);
  let mapped = true;
  for (let i = 0; i < 10; i++) if (buf[off + i] !== 0) mapped = false;
  if (mapped && buf[off + 10] === 0xff && buf[off + 11] === 0xff) return formatIp(buf, off + 12, 4);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((buf[off + i] << 8) | buf[off + i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (g: number) => g.toString(16);
  if (bestStart < 0) return groups.map(hex).join(":");
  const head = groups.slice(0, bestStart).map(hex).join(":");
  const tail = groups.slice(bestStart + bestLen).map(hex).join(":");
  return `${head}::${tail}`;
}

/** Creates an `inet_ip` decoder. */
export const inetIpDecoder: DecoderFactory = () => ({
  name: "inet_ip",
  bytes: formatIp,
  text(input) {
    const b = utf8Bytes(input);
    return formatIp(b, 0, b.length);
  },
});
