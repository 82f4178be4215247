/**
 * A small writer of Go execution traces (v2 wire format) for tests and
 * benchmarks: the text form of Go's own test cases (golang/exp
 * `trace/internal/raw/doc.go`) encoded to bytes, and a builder that makes
 * generations, batches, string and stack tables programmatically.
 * @module
 */
import { Ev } from "../../lib/sources/gotrace/event_types.ts";

/** A growable byte buffer with uvarint appends. */
export class ByteSink {
  private buf = new Uint8Array(1 << 16);
  /** Bytes written. */
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  /** One byte. */
  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  /** Raw bytes. */
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** A uvarint (minimal encoding). */
  uvarint(v: number | bigint): void {
    this.room(10);
    if (typeof v === "number" && v <= Number.MAX_SAFE_INTEGER) {
      while (v >= 0x80) {
        this.buf[this.length++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.length++] = v;
      return;
    }
    let x = BigInt(v);
    while (x >= 0x80n) {
      this.buf[this.length++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.length++] = Number(x);
  }

  /** The bytes written so far (a copy). */
  take(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** The 16-byte header of format `version`. */
export function headerBytes(version: number): Uint8Array {
  const text = `go 1.${version} trace`;
  const out = new Uint8Array(16);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

const NAME_TO_TYPE = new Map<string, number>(Object.entries(Ev));

function unquoteGo(q: string): Uint8Array {
  if (!q.startsWith('"') || !q.endsWith('"')) throw new Error(`expected a quoted string: ${q}`);
  const out: number[] = [];
  const enc = new TextEncoder();
  for (let i = 1; i < q.length - 1; i++) {
    const ch = q[i];
    if (ch !== "\\") {
      out.push(...enc.encode(ch));
      continue;
    }
    const e = q[++i];
    if (e === "x") {
      out.push(parseInt(q.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (e === "n") out.push(10);
    else if (e === "t") out.push(9);
    else if (e === "r") out.push(13);
    else if (e === "0") out.push(0);
    else out.push(e.charCodeAt(0));
  }
  return new Uint8Array(out);
}

/**
 * Encodes the text form of a trace (the `-- trace --` section of a Go test
 * case) to the wire format, as Go's `raw.Writer` does.
 */
export function encodeTextTrace(text: string): Uint8Array {
  const sink = new ByteSink();
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l.length);
  const head = /^Trace Go1\.(\d+)$/.exec(lines[0]);
  if (!head) throw new Error(`bad header line: ${lines[0]}`);
  sink.bytes(headerBytes(Number(head[1])));
  for (let i = 1; i < lines.length; i++) {
    const [name, ...rest] = lines[i].split(/\s+/);
    const type = NAME_TO_TYPE.get(name);
    if (type === undefined) throw new Error(`unknown event ${name} on line ${i + 1}`);
    const args = rest.map((kv) => BigInt(kv.slice(kv.indexOf("=") + 1)));
    sink.byte(type);
    if (type === Ev.ExperimentalBatch) {
      const data = unquoteGo(lines[++i].slice(lines[i].indexOf("=") + 1));
      for (const a of args) sink.uvarint(a);
      sink.uvarint(data.length);
      sink.bytes(data);
      continue;
    }
    for (const a of args) sink.uvarint(a);
    if (type === Ev.String) {
      const data = unquoteGo(lines[++i].slice(lines[i].indexOf("=") + 1));
      sink.uvarint(data.length);
      sink.bytes(data);
    } else if (type === Ev.Stack) {
      const n = Number(args[1]);
      for (let k = 0; k < n; k++) {
        for (const kv of lines[++i].split(/\s+/)) sink.uvarint(BigInt(kv.slice(kv.indexOf("=") + 1)));
      }
    }
  }
  return sink.take();
}

/** The `-- trace --` section of a Go txtar test case. */
export function traceSection(txtar: string): string {
  const at = txtar.indexOf("-- trace --");
  if (at < 0) throw new Error("no -- trace -- section");
  return txtar.slice(at + "-- trace --".length);
}

/** A stack frame for {@linkcode GenerationWriter.stack}. */
export interface WriterFrame {
  func: string;
  file: string;
  line: number;
  pc?: number;
}

/** Writes events of one M; splits into several batches at Go's 64 KiB limit. */
export class BatchWriter {
  private body = new ByteSink();
  private batchTime: bigint;
  private rel = 0;

  constructor(private readonly gen: GenerationWriter, readonly m: bigint, time: bigint) {
    this.batchTime = time;
  }

  /** Current time (ticks) of this batch's last event. */
  get now(): bigint {
    return this.batchTime + BigInt(this.rel);
  }

  /** Appends event `type` at `now + dt` with arguments `args` (after dt). */
  ev(type: number, dt: number, ...args: (number | bigint)[]): this {
    if (this.body.length > 65000) this.flush();
    this.rel += dt;
    this.body.byte(type);
    this.body.uvarint(dt);
    for (const a of args) this.body.uvarint(a);
    return this;
  }

  /** Writes the pending events as a batch. */
  flush(): void {
    if (this.body.length === 0) return;
    this.gen.writeBatch(this.m, this.batchTime, this.body.take());
    this.body = new ByteSink();
    this.batchTime = this.now;
    this.rel = 0;
  }
}

/** Wall-clock anchor of a Go 1.25+ generation. */
export interface WriterClock {
  /** Ticks after the sync batch's base time. */
  dt: number;
  mono: bigint;
  sec: bigint;
  nsec: bigint;
}

/** One generation: batches, then its tables (and clock data) on {@linkcode GenerationWriter.end}. */
export class GenerationWriter {
  private readonly strings = new Map<string, number>();
  private readonly stacks = new Map<string, number>();
  private readonly stackList: WriterFrame[][] = [];
  private readonly open: BatchWriter[] = [];

  constructor(
    private readonly w: GoTraceWriter,
    readonly gen: number,
    private readonly freq: bigint,
    private readonly syncTime: bigint,
    clock?: WriterClock,
  ) {
    if (w.version >= 25) {
      const body = new ByteSink();
      body.byte(Ev.Sync);
      body.byte(Ev.Frequency);
      body.uvarint(freq);
      if (clock) {
        body.byte(Ev.ClockSnapshot);
        body.uvarint(clock.dt);
        body.uvarint(clock.mono);
        body.uvarint(clock.sec);
        body.uvarint(clock.nsec);
      }
      this.writeBatch(NO_THREAD, syncTime, body.take());
    }
  }

  /** The id of string `s` (interned). */
  str(s: string): number {
    let id = this.strings.get(s);
    if (id === undefined) this.strings.set(s, id = this.strings.size + 1);
    return id;
  }

  /** The id of a stack (interned). */
  stack(frames: WriterFrame[]): number {
    const key = JSON.stringify(frames);
    let id = this.stacks.get(key);
    if (id === undefined) {
      this.stacks.set(key, id = this.stacks.size + 1);
      this.stackList.push(frames);
      for (const f of frames) {
        this.str(f.func);
        this.str(f.file);
      }
    }
    return id;
  }

  /** A batch writer for M `m` starting at `time` ticks. */
  batch(m: bigint, time: bigint): BatchWriter {
    const b = new BatchWriter(this, m, time);
    this.open.push(b);
    return b;
  }

  /** Writes one raw batch of this generation. */
  writeBatch(m: bigint, time: bigint, body: Uint8Array, experiment?: number): void {
    const s = this.w.sink;
    if (experiment !== undefined) {
      s.byte(Ev.ExperimentalBatch);
      s.byte(experiment);
    } else s.byte(Ev.EventBatch);
    s.uvarint(this.gen);
    s.uvarint(m);
    s.uvarint(time);
    s.uvarint(body.length);
    s.bytes(body);
  }

  /** Flushes open batches, writes the stack and string tables (and the frequency before 1.25; the end marker in 1.26). */
  end(): void {
    for (const b of this.open) b.flush();
    if (this.w.version < 25) {
      const f = new ByteSink();
      f.byte(Ev.Frequency);
      f.uvarint(this.freq);
      this.writeBatch(NO_THREAD, this.syncTime, f.take());
    }
    const st = new ByteSink();
    st.byte(Ev.Stacks);
    this.stackList.forEach((frames, i) => {
      st.byte(Ev.Stack);
      st.uvarint(i + 1);
      st.uvarint(frames.length);
      frames.forEach((fr, k) => {
        st.uvarint(fr.pc ?? 0x400000 + 16 * (i + 1) + k);
        st.uvarint(this.str(fr.func));
        st.uvarint(this.str(fr.file));
        st.uvarint(fr.line);
      });
    });
    this.writeBatch(NO_THREAD, this.syncTime, st.take());
    // string batches stay under the batch size limit
    const enc = new TextEncoder();
    let sb = new ByteSink();
    sb.byte(Ev.Strings);
    for (const [s, id] of this.strings) {
      if (sb.length > 60000) {
        this.writeBatch(NO_THREAD, this.syncTime, sb.take());
        sb = new ByteSink();
        sb.byte(Ev.Strings);
      }
      const b = enc.encode(s);
      sb.byte(Ev.String);
      sb.uvarint(id);
      sb.uvarint(b.length);
      sb.bytes(b);
    }
    this.writeBatch(NO_THREAD, this.syncTime, sb.take());
    if (this.w.version >= 26) this.w.sink.byte(Ev.EndOfGeneration);
  }
}

/** Go's NoThread M id. */
export const NO_THREAD = (1n << 64n) - 1n;

/** A whole trace of format `version` (22, 23, 25 or 26). */
export class GoTraceWriter {
  /** Where bytes go. */
  readonly sink = new ByteSink();

  constructor(readonly version: number) {
    this.sink.bytes(headerBytes(version));
  }

  /** Starts generation `gen` (frequency `freq` ticks/s; a clock snapshot for 1.25+). */
  generation(gen: number, freq: bigint, syncTime: bigint, clock?: WriterClock): GenerationWriter {
    return new GenerationWriter(this, gen, freq, syncTime, clock);
  }

  /** The trace bytes. */
  bytes(): Uint8Array {
    return this.sink.take();
  }
}
