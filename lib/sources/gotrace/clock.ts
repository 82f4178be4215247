/**
 * Trace time to wall-clock time, integer arithmetic only (`bigint`).
 *
 * Ticks become nanoseconds with the generation's frequency:
 * `ns = ticks * 1e9 / freq` (floor; exact whenever the frequency divides
 * 1e9, as Go's 64 ns ticks do). Wall clock:
 * - Go 1.25+: each generation's `ClockSnapshot` pairs a tick value with the
 *   wall clock (`sec`, `nsec`): `wall = snapshotWall + ns(t) - ns(snapshotTicks)`, exact.
 * - older traces carry no wall clock: an anchor says which wall time the
 *   trace's LAST event has (the file's mtime by default, or `--anchor`);
 *   every time is placed relative to it.
 * @module
 */
import type { Generation } from "./generations.ts";

/** How wall-clock times were obtained; reported as the `go.trace.clock` resource attribute. */
export type ClockSource = "clock_snapshot" | "file_mtime" | "anchor";

/** Nanoseconds of `ticks` at `freq` ticks per second (floor). */
export function ticksToNs(ticks: bigint, freq: bigint): bigint {
  return ticks * 1_000_000_000n / freq;
}

/** Wall-clock conversion of one generation's times, given as ticks relative to its `minTime`. */
export interface GenerationClock {
  /** Wall-clock Unix ns of a time `rel` ticks after the generation's `minTime`. */
  wall(rel: number): bigint;
  /** Trace-clock ns (no wall anchor) of `rel`. */
  traceNs(rel: number): bigint;
}

/**
 * The clock of generation `g`. `offsetNs` (wall − trace ns) is used when the
 * generation has no clock snapshot.
 */
export function generationClock(g: Generation, offsetNs: bigint): GenerationClock {
  const freq = g.freq;
  const base = g.minTime;
  const offset = g.clock ? g.clock.wallNs - ticksToNs(g.clock.ticks, freq) : offsetNs;
  const slow = (rel: number) => ticksToNs(base + BigInt(rel), freq) + offset;
  if (1_000_000_000n % freq !== 0n) return { wall: slow, traceNs: (rel) => ticksToNs(base + BigInt(rel), freq) };
  // whole nanoseconds per tick: (base + rel) * k = base * k + rel * k, the second term exact in a number
  const k = Number(1_000_000_000n / freq);
  const baseWall = base * BigInt(k) + offset;
  const limit = Number.MAX_SAFE_INTEGER / k;
  return {
    wall: (rel) => rel <= limit ? baseWall + BigInt(rel * k) : slow(rel),
    traceNs: (rel) => ticksToNs(base + BigInt(rel), freq),
  };
}
