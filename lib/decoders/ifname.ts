/**
 * `ifname`: a network interface index (u32, host order) as its name
 * (`eth0`); `unknown:<index>` when no such interface. Names come from
 * `/sys/class/net/<name>/ifindex`, rescanned on a miss at most once per second.
 * @module
 */
import { listSysDir, readKernelText } from "../ffi/sysfs.ts";
import { parseUintText, readUint } from "./bytes.ts";
import { DecodeError, type DecoderFactory } from "./types.ts";

/** Creates an `ifname` decoder. */
export const ifnameDecoder: DecoderFactory = (_config, env) => {
  const dir = env.netClassDir ?? "/sys/class/net";
  let table = new Map<number, string>();
  let lastScan = -Infinity;
  const lookup = (idx: number) => {
    let name = table.get(idx);
    if (name === undefined && performance.now() - lastScan > 1000) {
      lastScan = performance.now();
      const fresh = new Map<number, string>();
      try {
        for (const e of listSysDir(dir)) {
          if (e.name === ".") continue;
          try {
            const n = Number(readKernelText(`${dir}/${e.name}/ifindex`).trim());
            if (Number.isInteger(n)) fresh.set(n, e.name);
          } catch { /* vanished */ }
        }
      } catch { /* no sysfs */ }
      table = fresh;
      name = table.get(idx);
    }
    return name ?? `unknown:${idx}`;
  };
  return {
    name: "ifname",
    bytes(buf, off, len) {
      if (len < 4) throw new DecodeError(`ifname: index of ${len} bytes (expected 4)`);
      return lookup(readUint(buf, off, 4) as number);
    },
    text: (input) => lookup(parseUintText(input, "ifname")),
  };
};
