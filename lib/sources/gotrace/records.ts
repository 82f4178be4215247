/**
 * The events the span mapping needs, extracted from a generation's batches
 * and sorted by time: annotations, runtime ranges, and (optionally)
 * goroutine state changes.
 * @module
 */

/** Kinds of extracted records. */
export const Rec = {
  TaskBegin: 1,
  TaskEnd: 2,
  RegionBegin: 3,
  RegionEnd: 4,
  Log: 5,
  RangeBegin: 6,
  RangeEnd: 7,
  RangeActive: 8,
  GoState: 9,
} as const;

/** Which runtime range a range record is about. */
export const Range = {
  GC: 1,
  STW: 2,
  Sweep: 3,
  MarkAssist: 4,
} as const;

/** Goroutine states reported by state-change records. */
export const GoState = {
  Running: 1,
  Runnable: 2,
  Waiting: 3,
  Syscall: 4,
  Dead: 5,
} as const;

/** One extracted event. Field meaning depends on `kind` (see the extractor). */
export interface TraceRecord {
  kind: number;
  /** Ticks after the generation's `minTime`. */
  ts: number;
  /** Goroutine the event belongs to, or -1. */
  g: number;
  /** Task id / range kind / new state. */
  a: number;
  /** Parent task / name string / range key (gc seq, P, goroutine) / reason string. */
  b: number;
  /** Name string / value string / stack. */
  c: number;
  /** Stack id (0 = none). */
  stack: number;
  /** 64-bit values (sweep: swept bytes). */
  x?: bigint;
  /** 64-bit values (sweep: reclaimed bytes). */
  y?: bigint;
}
