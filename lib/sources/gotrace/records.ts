/**
 * The events the span mapping needs, extracted from a generation's batches:
 * annotations, runtime ranges, and (optionally) goroutine state changes.
 * Held column-wise in typed arrays (one generation can hold millions) and
 * read in time order through {@linkcode RecordBuffer.timeOrder}.
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

/**
 * Extracted records, one row each. Columns: `kind`; `ts` (ticks after the
 * generation's `minTime`); `g` (goroutine or -1); `a` (task id / range kind /
 * new state); `b` (parent task / name string / range key / reason string);
 * `c` (name / value string / STW kind / GC sequence number); `stack` (stack id, 0 = none); `x`/`y` (64-bit
 * values of some rows, by row).
 */
export class RecordBuffer {
  /** Rows held. */
  length = 0;

  /** Rows that fit without growing. */
  get capacity(): number {
    return this.kind.length;
  }
  kind = new Uint8Array(1024);
  ts = new Float64Array(1024);
  g = new Float64Array(1024);
  a = new Float64Array(1024);
  b = new Float64Array(1024);
  c = new Float64Array(1024);
  stack = new Float64Array(1024);
  /** Sweep rows: swept and reclaimed bytes. */
  readonly x = new Map<number, bigint>();
  readonly y = new Map<number, bigint>();
  /** First row of each run (rows in time order; a new run starts where time goes back). */
  private runs: number[] = [0];
  private order = new Uint32Array(0);

  /** Empties the buffer for the next generation (keeps its memory), with room for about `rows` rows. */
  reset(rows = 0): void {
    while (this.kind.length < rows) this.grow();
    this.length = 0;
    this.x.clear();
    this.y.clear();
    this.runs = [0];
  }

  private grow(): void {
    const n = this.kind.length * 2;
    const keep = this.length;
    const copy = (old: Float64Array) => {
      const next = new Float64Array(n);
      if (keep) next.set(old.subarray(0, keep));
      return next;
    };
    const k = new Uint8Array(n);
    if (keep) k.set(this.kind.subarray(0, keep));
    this.kind = k;
    this.ts = copy(this.ts);
    this.g = copy(this.g);
    this.a = copy(this.a);
    this.b = copy(this.b);
    this.c = copy(this.c);
    this.stack = copy(this.stack);
  }

  /** Appends a row; returns its index. */
  push(kind: number, ts: number, g: number, a: number, b: number, c: number, stack: number): number {
    if (this.length === this.kind.length) this.grow();
    const i = this.length++;
    if (i > 0 && ts < this.ts[i - 1]) this.runs.push(i);
    this.kind[i] = kind;
    this.ts[i] = ts;
    this.g[i] = g;
    this.a[i] = a;
    this.b[i] = b;
    this.c[i] = c;
    this.stack[i] = stack;
    return i;
  }

  /**
   * Row indices in time order: a merge of the runs (stable: equal times
   * keep extraction order). The array is reused by the next call.
   */
  timeOrder(): Uint32Array {
    const n = this.length;
    if (this.order.length < n) this.order = new Uint32Array(Math.max(n, this.order.length * 2));
    const order = this.order.subarray(0, n);
    const ts = this.ts;
    const starts = this.runs.filter((s) => s < n);
    const ends = starts.map((_, k) => k + 1 < starts.length ? starts[k + 1] : n);
    // a binary min-heap of runs, keyed by (time of the run's next row, row index)
    const heap: number[] = [];
    const pos = starts.slice();
    const less = (r1: number, r2: number) => {
      const t1 = ts[pos[r1]];
      const t2 = ts[pos[r2]];
      return t1 < t2 || (t1 === t2 && pos[r1] < pos[r2]);
    };
    const down = (at: number) => {
      for (;;) {
        const l = 2 * at + 1;
        if (l >= heap.length) return;
        const c = l + 1 < heap.length && less(heap[l + 1], heap[l]) ? l + 1 : l;
        if (!less(heap[c], heap[at])) return;
        [heap[c], heap[at]] = [heap[at], heap[c]];
        at = c;
      }
    };
    for (let r = 0; r < starts.length; r++) {
      heap.push(r);
      for (let at = heap.length - 1; at > 0;) {
        const up = (at - 1) >> 1;
        if (!less(heap[at], heap[up])) break;
        [heap[at], heap[up]] = [heap[up], heap[at]];
        at = up;
      }
    }
    let k = 0;
    while (heap.length) {
      const r = heap[0];
      // take rows from this run while it stays the earliest
      const end = ends[r];
      const next = heap.length > 1 ? (heap.length > 2 && less(heap[2], heap[1]) ? heap[2] : heap[1]) : -1;
      let p = pos[r];
      if (next < 0) {
        while (p < end) order[k++] = p++;
      } else {
        const tn = ts[pos[next]];
        const pn = pos[next];
        do order[k++] = p++; while (p < end && (ts[p] < tn || (ts[p] === tn && p < pn)));
      }
      pos[r] = p;
      if (p >= end) {
        const last = heap.pop()!;
        if (heap.length) {
          heap[0] = last;
          down(0);
        }
      } else {
        down(0);
      }
    }
    return order;
  }
}
