/**
 * `majorminor`: a device number (u32 in the userspace `dev_t` encoding, as
 * `new_encode_dev` makes it) as the block device name from
 * `/proc/partitions` (`sda2`); `unknown:<major>:<minor>` when not listed.
 * @module
 */
import { readKernelText } from "../ffi/sysfs.ts";
import { parseUintText, readUint } from "./bytes.ts";
import { DecodeError, type DecoderFactory } from "./types.ts";

/** Major and minor of an encoded device number. */
export function splitDev(dev: number): [number, number] {
  const major = (dev >>> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  return [major, minor];
}

/** Creates a `majorminor` decoder. */
export const majorminorDecoder: DecoderFactory = (_config, env) => {
  const path = env.partitionsPath ?? "/proc/partitions";
  const cache = new Map<number, string>();
  const lookup = (dev: number) => {
    const hit = cache.get(dev);
    if (hit !== undefined) return hit;
    const [major, minor] = splitDev(dev);
    let text = "";
    try {
      text = readKernelText(path);
    } catch { /* unreadable: unknown */ }
    for (const line of text.split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length === 4 && f[0] === String(major) && f[1] === String(minor)) {
        cache.set(dev, f[3]);
        return f[3];
      }
    }
    return `unknown:${major}:${minor}`;
  };
  return {
    name: "majorminor",
    bytes(buf, off, len) {
      if (len < 4) throw new DecodeError(`majorminor: device number of ${len} bytes (expected 4)`);
      return lookup(readUint(buf, off, 4) as number);
    },
    text: (input) => lookup(parseUintText(input, "majorminor")),
  };
};
