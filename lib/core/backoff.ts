/**
 * Retry timing: exponential backoff with jitter, and a sleep that a signal
 * can cut short.
 * @module
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** Delay before the first retry, before jitter (ms). */
  initialMs: number;
  /** Upper bound of any delay (ms). */
  maxMs: number;
  /** Growth per attempt; 2 by default. */
  multiplier?: number;
  /** Random in [0, 1); `Math.random` by default. */
  random?: () => number;
}

/**
 * The delay before retry number `retry` (1 for the first): the exponential
 * delay capped at `maxMs`, then scaled by a random factor in [0.5, 1) so
 * that clients do not retry in lockstep.
 */
export function backoffDelayMs(retry: number, opts: BackoffOptions): number {
  const base = Math.min(opts.maxMs, opts.initialMs * (opts.multiplier ?? 2) ** Math.max(0, retry - 1));
  return Math.round(base * (0.5 + 0.5 * (opts.random ?? Math.random)()));
}

/** Wait `ms`; resolves `false` at once if `signal` aborts first, else `true`. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (value: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(value);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), Math.max(0, ms));
    signal?.addEventListener("abort", onAbort);
  });
}
