/**
 * The wall-clock offset of CLOCK_MONOTONIC (what `bpf_ktime_get_ns` reads),
 * measured with libc `clock_gettime`: of several REALTIME / MONOTONIC /
 * REALTIME triples, the one with the smallest gap brackets the monotonic
 * reading best; offset = midpoint(REALTIME) − MONOTONIC. Recorded into the
 * shared {@linkcode ClockOffsets} so spans convert as every source does.
 * @module
 */
import { CLOCK, clockNs } from "./libc.ts";
import type { ClockOffsets } from "../core/clock.ts";

/** One measurement: the offset and its uncertainty (the bracketing gap). */
export interface OffsetSample {
  offsetNs: bigint;
  gapNs: bigint;
}

/** Measures wall − monotonic from `samples` triples (default 16). */
export function measureMonotonicOffset(samples = 16): OffsetSample {
  let best: OffsetSample | undefined;
  for (let i = 0; i < samples; i++) {
    const r1 = clockNs(CLOCK.REALTIME);
    const m = clockNs(CLOCK.MONOTONIC);
    const r2 = clockNs(CLOCK.REALTIME);
    const gap = r2 - r1;
    if (gap < 0n) continue; // a clock step between the readings
    if (!best || gap < best.gapNs) best = { offsetNs: r1 + gap / 2n - m, gapNs: gap };
  }
  if (!best) throw new Error("could not measure the monotonic clock offset (wall clock stepping)");
  return best;
}

/** Measure now and record it as the `monotonic` offset in `clocks`. */
export function syncMonotonic(clocks: ClockOffsets): OffsetSample {
  const s = measureMonotonicOffset();
  clocks.set("monotonic", s.offsetNs);
  return s;
}

/** The current CLOCK_MONOTONIC reading in ns (bpf_ktime_get_ns's clock). */
export function monotonicNowNs(): bigint {
  return clockNs(CLOCK.MONOTONIC);
}
