/**
 * The series of one metric under a cardinality limit: past `limit` distinct
 * attribute sets, points of new sets go to one overflow series (attributes
 * `otel.metric.overflow=true`, as the OpenTelemetry SDK specifies) and each
 * such point is counted. The caller's lookup (a `KeyTree`, key_tree.ts) keeps
 * nothing of refused sets, so memory stays bounded however many distinct
 * values arrive.
 * @module
 */

/** The attribute that marks the overflow series. */
export const OVERFLOW_ATTRIBUTE = "otel.metric.overflow";

/** The default cardinality limit per metric. */
export const DEFAULT_CARDINALITY_LIMIT = 2000;

/**
 * The series of one metric with its cardinality budget. Lookup structures
 * belong to the caller (they must not keep keys of refused attribute sets).
 */
export class SeriesTable<S> {
  readonly #series: S[] = [];
  #overflow: S | undefined;
  /** Points that went to the overflow series. */
  overflowed = 0;

  /**
   * @param limit most distinct attribute sets (the overflow series not counted)
   * @param createOverflow makes the overflow series the first time it is needed
   */
  constructor(readonly limit: number, readonly createOverflow: () => S) {}

  /** Whether a new attribute set would exceed the limit. */
  get full(): boolean {
    return this.#series.length >= this.limit;
  }

  /** Adds the series of a new attribute set (the caller checked {@linkcode SeriesTable.full}). */
  add(series: S): S {
    this.#series.push(series);
    return series;
  }

  /** The overflow series, for a point of a new attribute set while full (counted). */
  overflow(): S {
    this.overflowed++;
    return this.#overflow ??= this.createOverflow();
  }

  /** Distinct series (the overflow series not counted). */
  get size(): number {
    return this.#series.length;
  }

  /** Every series, the overflow one last. */
  *all(): IterableIterator<S> {
    yield* this.#series;
    if (this.#overflow) yield this.#overflow;
  }
}
