/**
 * Series looked up by a path of attribute values, one nested `Map` per
 * attribute (values compared as `Map` keys do: `200`, `200n` and `"200"`
 * are different; `undefined` stands for an absent attribute). No key string
 * is built per lookup, and a path is only stored when a series is added, so
 * refused attribute sets leave nothing behind.
 * @module
 */

/** A value on a lookup path: a scalar attribute value, or undefined when absent. */
export type KeyValue = string | number | boolean | bigint | undefined;

type Node<S> = Map<KeyValue, Node<S> | S>;

/** A tree of series keyed by fixed-length paths of values. */
export class KeyTree<S> {
  readonly #root: Node<S> = new Map();

  /** The series at `path[0..length)`, if any. */
  get(path: readonly KeyValue[], length: number): S | undefined {
    let node: Node<S> | undefined = this.#root;
    for (let i = 0; i < length - 1; i++) {
      node = node.get(path[i]) as Node<S> | undefined;
      if (node === undefined) return undefined;
    }
    return node.get(path[length - 1]) as S | undefined;
  }

  /** Stores `series` at `path[0..length)` (every path of one tree has the same length). */
  set(path: readonly KeyValue[], length: number, series: S): void {
    let node = this.#root;
    for (let i = 0; i < length - 1; i++) {
      let next = node.get(path[i]) as Node<S> | undefined;
      if (next === undefined) node.set(path[i], next = new Map());
      node = next;
    }
    node.set(path[length - 1], series);
  }
}
