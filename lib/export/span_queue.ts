/**
 * A bounded first-in first-out queue of spans. Pushing past the bound keeps
 * what fits and refuses the rest (the newest), so the caller can count them.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";

/** A bounded span FIFO. */
export interface SpanQueue {
  /** Spans queued now. */
  readonly size: number;
  /** The most spans it holds. */
  readonly capacity: number;
  /** Append what fits of `spans` (copied); returns how many were taken. */
  push(spans: readonly SpanData[]): number;
  /** Remove and return up to `max` of the oldest spans. */
  take(max: number): SpanData[];
  /** Remove everything; returns how many spans that was. */
  clear(): number;
}

const EMPTY: SpanData[] = [];

/** An empty queue holding at most `capacity` spans. */
export function createSpanQueue(capacity: number): SpanQueue {
  // Pushed batches in order, from chunks[first]; `head` indexes into that one.
  let chunks: SpanData[][] = [];
  let first = 0;
  let head = 0;
  let size = 0;

  function dropFirst(): void {
    chunks[first] = EMPTY; // release the spans now, not when the array is compacted
    first++;
    head = 0;
    if (first === chunks.length) {
      chunks = [];
      first = 0;
    } else if (first >= 1024 && first * 2 >= chunks.length) {
      chunks = chunks.slice(first);
      first = 0;
    }
  }

  return {
    get size() {
      return size;
    },
    capacity,
    push(spans) {
      const n = Math.min(spans.length, capacity - size);
      if (n <= 0) return 0;
      chunks.push(spans.slice(0, n));
      size += n;
      return n;
    },
    take(max) {
      if (size === 0 || max <= 0) return [];
      const chunk = chunks[first];
      // Hand over a whole untouched batch when it is exactly what fits.
      if (head === 0 && (chunk.length === max || (chunk.length < max && chunk.length === size))) {
        size -= chunk.length;
        dropFirst();
        return chunk;
      }
      const out: SpanData[] = [];
      while (out.length < max && size > 0) {
        const c = chunks[first];
        const n = Math.min(max - out.length, c.length - head);
        for (let i = 0; i < n; i++) out.push(c[head + i]);
        head += n;
        size -= n;
        if (head === c.length) dropFirst();
      }
      return out;
    },
    clear() {
      const n = size;
      chunks = [];
      first = 0;
      head = 0;
      size = 0;
      return n;
    },
  };
}
