/**
 * Wall-clock step detection. bpftrace 0.17 measures its boot→wall offset
 * once, at start-up, so a wall-clock step after that (time sync on a freshly
 * booted machine, a VM restore) never shows in its calibration records. The
 * agent sees it in its own clocks: `wall − monotonic` is constant while the
 * wall clock only runs (NTP slews both clocks alike) and moves by exactly
 * the step when it jumps. Anchored when a calibration is measured, the
 * detector reports the step since then, once it moved by at least the
 * threshold (2 ms: above the millisecond granularity of `Date.now()`).
 * A machine suspend moves boot time but not monotonic time; spanprobe is
 * meant for servers that do not suspend (see docs/probe-spec.md).
 * @module
 */

/** Default smallest step reported (ns). */
export const CLOCK_STEP_THRESHOLD_NS = 2_000_000n;

/**
 * `wall − monotonic` now, in ns, from `Date.now()` bracketed by two
 * `performance.now()` reads; `undefined` when every try was interrupted
 * for more than 0.2 ms (a preempted read would look like a step).
 */
export function wallMinusMonotonicNs(): bigint | undefined {
  for (let i = 0; i < 5; i++) {
    const before = performance.now();
    const wall = Date.now();
    const after = performance.now();
    if (after - before <= 0.2) return BigInt(wall) * 1_000_000n - BigInt(Math.round(((before + after) / 2) * 1e6));
  }
  return undefined;
}

/** Watches the wall clock for steps since an anchor. */
export interface WallStepDetector {
  /** A calibration was just measured: steps count from now. */
  anchor(): void;
  /**
   * The wall clock's step since the anchor, in ns, when it changed by at
   * least the threshold since the last value returned (or the anchor);
   * otherwise `undefined`.
   */
  poll(): bigint | undefined;
}

/** Options of {@linkcode createWallStepDetector}. */
export interface WallStepOptions {
  thresholdNs?: bigint;
  /** `wall − monotonic` now; `undefined` when it could not be read cleanly (tests inject). */
  wallMinusMonotonicNs?: () => bigint | undefined;
}

/** A detector; unanchored until {@linkcode WallStepDetector.anchor}. */
export function createWallStepDetector(o: WallStepOptions = {}): WallStepDetector {
  const threshold = o.thresholdNs ?? CLOCK_STEP_THRESHOLD_NS;
  const read = o.wallMinusMonotonicNs ?? wallMinusMonotonicNs;
  let anchored = false;
  let base: bigint | undefined;
  let reported = 0n;
  return {
    anchor() {
      anchored = true;
      base = read();
      reported = 0n;
    },
    poll() {
      if (!anchored) return undefined;
      base ??= read(); // the anchor's read was interrupted: anchor now
      const now = base === undefined ? undefined : read();
      if (base === undefined || now === undefined) return undefined;
      const step = now - base;
      const moved = step - reported;
      if (moved < threshold && moved > -threshold) return undefined;
      reported = step;
      return step;
    },
  };
}
