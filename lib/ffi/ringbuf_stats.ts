/**
 * Reads the BPF side's `spanprobe_stats` per-CPU counters (see
 * probes/include/spanprobe.bpf.h): reserve failures (dropped events) and
 * records submitted, summed over CPUs.
 * @module
 */
import { type BpfObject, possibleCpus } from "./bpf_object.ts";

/** Totals of the counters. */
export interface StatsTotals {
  reserveFailures: number;
  submitted: number;
}

/** Reads the counters. */
export interface StatsReader {
  /** Read now; returns the increase since the previous poll. */
  poll(): StatsTotals;
  /** The totals as of the last poll. */
  totals(): StatsTotals;
}

/** A reader of `obj`'s `spanprobe_stats` map (which must exist). */
export function openStatsReader(obj: BpfObject): StatsReader {
  const map = obj.map("spanprobe_stats");
  const cpus = possibleCpus(obj.libbpf);
  const stride = (map.valueSize + 7) & ~7;
  const value = new Uint8Array(stride * cpus);
  const view = new DataView(value.buffer);
  const key = new Uint8Array(4);
  let last: StatsTotals = { reserveFailures: 0, submitted: 0 };
  return {
    poll() {
      if (!map.lookup(key, value)) return { reserveFailures: 0, submitted: 0 };
      let failures = 0n, submitted = 0n;
      for (let cpu = 0; cpu < cpus; cpu++) {
        failures += view.getBigUint64(cpu * stride, true);
        submitted += view.getBigUint64(cpu * stride + 8, true);
      }
      const now = { reserveFailures: Number(failures), submitted: Number(submitted) };
      const delta = {
        reserveFailures: now.reserveFailures - last.reserveFailures,
        submitted: now.submitted - last.submitted,
      };
      last = now;
      return delta;
    },
    totals: () => ({ ...last }),
  };
}
