/**
 * Kernel symbol table from `/proc/kallsyms` (read through libc, see
 * lib/ffi/sysfs.ts), loaded once per path, for address → symbol lookups (the
 * symbol with the greatest start address not above the address).
 * @module
 */
import { readKernelText } from "../ffi/sysfs.ts";

/** A loaded symbol table. */
export interface Kallsyms {
  /** The symbol containing `addr`, or `undefined` below the first symbol. */
  lookup(addr: bigint): string | undefined;
  readonly size: number;
}

const tables = new Map<string, Kallsyms>();

/** Parses kallsyms text (`<hex addr> <type> <name> [module]` per line). */
export function parseKallsyms(text: string): Kallsyms {
  const addrs: bigint[] = [];
  const names: string[] = [];
  for (const line of text.split("\n")) {
    const sp1 = line.indexOf(" ");
    if (sp1 <= 0) continue;
    const sp2 = line.indexOf(" ", sp1 + 1);
    if (sp2 < 0) continue;
    const addr = BigInt("0x" + line.slice(0, sp1));
    if (addr === 0n) continue;
    const rest = line.slice(sp2 + 1);
    const tab = rest.indexOf("\t");
    addrs.push(addr);
    names.push(tab < 0 ? rest.trimEnd() : rest.slice(0, tab));
  }
  const order = addrs.map((_, i) => i).sort((a, b) => addrs[a] < addrs[b] ? -1 : addrs[a] > addrs[b] ? 1 : 0);
  const sortedAddrs = new BigUint64Array(order.length);
  const sortedNames: string[] = new Array(order.length);
  order.forEach((idx, i) => {
    sortedAddrs[i] = addrs[idx];
    sortedNames[i] = names[idx];
  });
  return {
    size: sortedNames.length,
    lookup(addr) {
      let lo = 0, hi = sortedAddrs.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (sortedAddrs[mid] <= addr) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return found < 0 ? undefined : sortedNames[found];
    },
  };
}

/**
 * The symbol table at `path` (default `/proc/kallsyms`), read on first use.
 * Addresses read as zero (not root, or kptr_restrict) leave it empty.
 */
export function kallsyms(path = "/proc/kallsyms"): Kallsyms {
  let t = tables.get(path);
  if (!t) {
    t = parseKallsyms(readKernelText(path));
    tables.set(path, t);
  }
  return t;
}
