/**
 * Clock conversion: kernel clocks (boot time, monotonic) to wall-clock
 * nanoseconds, all as `bigint`.
 *
 * Sources measure an offset (wall − clock) and record it here; spans then
 * convert with integer arithmetic only. Offsets may be re-measured at any
 * time (clock steps); the latest measurement wins.
 * @module
 */

/** The clocks a timestamp may come from. */
export type ClockName = "realtime" | "boottime" | "monotonic";

/** All clock names, for validation. */
export const CLOCK_NAMES: readonly ClockName[] = [
  "realtime",
  "boottime",
  "monotonic",
];

/** Wall-clock offsets per kernel clock. */
export interface ClockOffsets {
  /** Record that `wall = clockNs + offsetNs` for `clock`. */
  set(clock: ClockName, offsetNs: bigint): void;
  /** The current offset of `clock`, or `undefined` when not measured yet. */
  get(clock: ClockName): bigint | undefined;
  /** `ns` read from `clock` as wall-clock ns; throws when the offset is unknown. */
  toWall(clock: ClockName, ns: bigint): bigint;
}

/** A fresh offset table; `realtime` is always offset 0. */
export function createClockOffsets(): ClockOffsets {
  const offsets = new Map<ClockName, bigint>([["realtime", 0n]]);
  return {
    set(clock, offsetNs) {
      if (clock === "realtime") return;
      offsets.set(clock, offsetNs);
    },
    get(clock) {
      return offsets.get(clock);
    },
    toWall(clock, ns) {
      const off = offsets.get(clock);
      if (off === undefined) {
        throw new Error(`no wall-clock offset measured yet for ${clock}`);
      }
      return ns + off;
    },
  };
}

/**
 * The offset from a paired reading: a kernel clock value and the same instant
 * as decimal epoch seconds with a fraction (e.g. bpftrace's
 * `strftime("%s.%f", nsecs)` → `"1795313354.907507"`). Parsed from text, so
 * no precision is lost: offset = epoch_ns − clock_ns.
 */
export function offsetFromEpochText(
  clockNs: bigint,
  epochText: string,
): bigint {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(epochText.trim());
  if (!m) throw new Error(`not an epoch time: ${JSON.stringify(epochText)}`);
  const frac = (m[2] ?? "").padEnd(9, "0");
  return BigInt(m[1]) * 1_000_000_000n + BigInt(frac) - clockNs;
}

/** Wall-clock now in ns (microsecond resolution from `performance`). */
export function wallNowNs(): bigint {
  const us = Math.round((performance.timeOrigin + performance.now()) * 1000);
  return BigInt(us) * 1000n;
}
