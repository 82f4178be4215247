/**
 * Strings that do not keep larger strings alive.
 *
 * V8 makes a slice of 13 or more characters a view into the string it was
 * sliced from, so a request id sliced from a 64 KiB batch of bpftrace output
 * keeps the whole batch in memory for as long as the id lives (measured:
 * 2,000 such ids held 134 MB; their copies 3 MB). State that outlives a batch
 * — open spans, waiting ends, cached resources — holds copies.
 * @module
 */

/** Slices shorter than this are copies already. */
const SLICE_MIN = 13;

/** `s`, as a string of its own when it could be a view into a larger one. */
export function ownString(s: string): string {
  // concatenation then slicing flattens into a new string just one character longer
  return s.length < SLICE_MIN ? s : (s + "\0").slice(0, -1);
}

/** Replaces every string value of `values` (in place) by {@linkcode ownString} of it. */
export function ownStrings(values: unknown[]): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === "string" && v.length >= SLICE_MIN) values[i] = ownString(v);
  }
}
