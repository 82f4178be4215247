/**
 * A map of metric series with a cardinality limit: past `limit` distinct
 * attribute sets, new sets share one overflow series (attributes
 * `otel.metric.overflow=true`, as the OpenTelemetry SDK specifies) and each
 * such point is counted. Nothing about rejected sets is kept, so memory stays
 * bounded however many distinct values arrive.
 * @module
 */

/** The attribute that marks the overflow series. */
export const OVERFLOW_ATTRIBUTE = "otel.metric.overflow";

/** The default cardinality limit per metric. */
export const DEFAULT_CARDINALITY_LIMIT = 2000;

/** A bounded table of series keyed by a string made from their attributes. */
export class SeriesTable<S> {
  readonly #series = new Map<string, S>();
  #overflow: S | undefined;
  /** Points that went to the overflow series. */
  overflowed = 0;

  /**
   * @param limit most distinct attribute sets (the overflow series not counted)
   * @param createOverflow makes the overflow series the first time it is needed
   */
  constructor(readonly limit: number, readonly createOverflow: () => S) {}

  /**
   * The series for `key`; the overflow series (counted) when `key` is new and
   * the table is full; `undefined` when `key` is new and there is room (then
   * {@linkcode SeriesTable.add} it).
   */
  find(key: string): S | undefined {
    const s = this.#series.get(key);
    if (s !== undefined || this.#series.size < this.limit) return s;
    this.overflowed++;
    return this.#overflow ??= this.createOverflow();
  }

  /** Adds the series for a new `key` (after {@linkcode SeriesTable.find} returned `undefined`). */
  add(key: string, series: S): S {
    this.#series.set(key, series);
    return series;
  }

  /** Distinct series (the overflow series not counted). */
  get size(): number {
    return this.#series.size;
  }

  /** Every series, the overflow one last. */
  *all(): IterableIterator<S> {
    yield* this.#series.values();
    if (this.#overflow) yield this.#overflow;
  }
}
