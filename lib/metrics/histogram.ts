/**
 * Explicit-bucket histograms of durations, kept in integer nanoseconds so
 * that bucket edges and sums are exact (a duration equal to a bound falls in
 * that bound's bucket, as OpenTelemetry and Prometheus `le` define it).
 * @module
 */

/**
 * OBI's default duration buckets, in seconds: 0, 5 ms, 10 ms, 25 ms, 50 ms,
 * 75 ms, 100 ms, 250 ms, 500 ms, 750 ms, 1 s, 2.5 s, 5 s, 7.5 s, 10 s.
 */
export const DEFAULT_DURATION_BOUNDS_S: readonly number[] = [
  0,
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
];

/** Bounds in nanoseconds, for exact comparison with span durations. */
export interface Bounds {
  /** The upper bounds in seconds, as exported. */
  readonly seconds: readonly number[];
  /** The same bounds in ns. */
  readonly ns: readonly bigint[];
  /** The same bounds in ns as numbers (exact: whole numbers below 2^53). */
  readonly nsNumbers: Float64Array;
}

/** Bounds from seconds; each must be a whole number of nanoseconds, strictly increasing. */
export function boundsOf(seconds: readonly number[]): Bounds {
  const ns = seconds.map((s) => {
    const v = Math.round(s * 1e9);
    if (!Number.isSafeInteger(v) || Math.abs(v - s * 1e9) > 1e-3) {
      throw new RangeError(`bucket bound ${s} s is not a whole number of nanoseconds`);
    }
    return BigInt(v);
  });
  for (let i = 1; i < ns.length; i++) {
    if (ns[i] <= ns[i - 1]) throw new RangeError("bucket bounds must increase strictly");
  }
  return { seconds: [...seconds], ns, nsNumbers: Float64Array.from(ns, Number) };
}

/** The default duration bounds ({@linkcode DEFAULT_DURATION_BOUNDS_S}). */
export const DEFAULT_DURATION_BOUNDS: Bounds = boundsOf(DEFAULT_DURATION_BOUNDS_S);

/**
 * The bucket index of `durationNs`: bucket `i` holds values in
 * `(bounds[i-1], bounds[i]]`; the last bucket (index `bounds.length`) holds
 * values above every bound.
 */
export function bucketIndex(bounds: Bounds, durationNs: bigint): number {
  const b = bounds.ns;
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (durationNs <= b[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * One histogram's running totals. Counts are exact up to 2^53. The sum is
 * exact: a number part that stays below 2^53 plus a bigint part it spills
 * into (see {@linkcode sumNsOf}).
 */
export interface HistogramState {
  /** Per-bucket counts (`bounds.length + 1` buckets). */
  readonly counts: Float64Array;
  count: number;
  /** The sum is `sumBig + sumSmall` ns. */
  sumSmall: number;
  sumBig: bigint;
  /** Smallest and largest observed duration in ns (meaningless while `count` is 0). */
  minNs: number;
  maxNs: number;
}

/** An empty histogram for `bounds`. */
export function newHistogram(bounds: Bounds): HistogramState {
  return { counts: new Float64Array(bounds.ns.length + 1), count: 0, sumSmall: 0, sumBig: 0n, minNs: 0, maxNs: 0 };
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The duration to pass to {@linkcode observe}: exact as a number below 2^53
 * ns (104 days; spans end far sooner, a TTL ends them); longer ones are
 * capped there (they fall in the +Inf bucket either way, their sum is then
 * not exact).
 */
export function durationOf(startNs: bigint, endNs: bigint): number {
  const d = endNs - startNs;
  return d <= 0n ? 0 : d < MAX_SAFE_BIG ? Number(d) : MAX_SAFE;
}

/** Adds one duration (whole ns, below 2^53, from {@linkcode durationOf}). */
export function observe(h: HistogramState, bounds: Bounds, durationNs: number): void {
  const b = bounds.nsNumbers;
  const n = b.length;
  let i = 0;
  while (i < n && durationNs > b[i]) i++;
  h.counts[i]++;
  const sum = h.sumSmall + durationNs;
  if (sum <= MAX_SAFE) h.sumSmall = sum; // exact: both parts are whole numbers and the total is below 2^53
  else {
    h.sumBig += BigInt(h.sumSmall) + BigInt(durationNs);
    h.sumSmall = 0;
  }
  if (h.count === 0 || durationNs < h.minNs) h.minNs = durationNs;
  if (h.count === 0 || durationNs > h.maxNs) h.maxNs = durationNs;
  h.count++;
}

/** The exact sum of a histogram, in ns. */
export function sumNsOf(h: HistogramState): bigint {
  return h.sumBig + BigInt(h.sumSmall);
}

/** Nanoseconds as seconds: one rounding (exact while the value is below 2^53 ns, ~104 days). */
export function nsToSeconds(ns: bigint | number): number {
  return Number(ns) / 1e9;
}
