/**
 * Splitting a trace into batches and batches into generations. A generation
 * is a self-contained slice of the trace with its own string table, stack
 * table and clock data (frequency; Go 1.25+ also a clock snapshot).
 *
 * Generation boundaries: before Go 1.26 a batch of the next generation number
 * starts the next one; from Go 1.26 a lone `EndOfGeneration` byte ends each.
 * A truncated tail is dropped and reported in `truncation`; the complete
 * generations before it are kept. The last generation counts as cut short
 * when the file ends inside one of its batches (a cut batch whose header
 * names the next generation leaves it complete, as in Go's reader), when it
 * lacks its frequency (or 1.25+ clock snapshot), or (1.26+) its
 * end-of-generation marker.
 * @module
 */
import { ByteCursor } from "./uvarint.ts";
import {
  Ev,
  EXPERIMENT_ALLOC_FREE,
  experimentalArgCounts,
  MAX_BATCH_SIZE,
  MAX_FRAMES,
  MAX_STRING_SIZE,
} from "./event_types.ts";
import type { GoTraceVersion } from "./header.ts";
import { HEADER_BYTES } from "./header.ts";
import { GoTraceError } from "./parse_error.ts";

/** One event batch of one M: its events are `bytes[start, end)`. */
export interface EventBatch {
  /** The M (thread) id; `NO_THREAD` for batches not tied to a thread. */
  m: bigint;
  /** Base timestamp in ticks. */
  time: bigint;
  start: number;
  end: number;
}

/** A stack frame as the stack table holds it (string ids resolved). */
export interface Frame {
  func: string;
  file: string;
  line: number;
}

/** The wall-clock anchor of a Go 1.25+ generation. */
export interface ClockSnapshot {
  /** Trace clock at the snapshot, in ticks. */
  ticks: bigint;
  /** Monotonic clock at the snapshot, ns. */
  monoNs: bigint;
  /** Wall clock at the snapshot, Unix ns. */
  wallNs: bigint;
}

/** One generation's batches and tables. */
export interface Generation {
  gen: number;
  /** Event batches in file order. */
  batches: EventBatch[];
  strings: Map<number, string>;
  stacks: Map<number, Frame[]>;
  /** Ticks per second. */
  freq: bigint;
  clock?: ClockSnapshot;
  /** Smallest batch base time (ticks). */
  minTime: bigint;
  /** Experimental batches seen (their events are validated, not mapped). */
  experimentalBatches: number;
  /** CPU samples seen (not mapped). */
  cpuSamples: number;
}

/** What was cut off the end of a trace (absent when it ended cleanly). */
export interface Truncation {
  /** Bytes that could not be used. */
  bytes: number;
  /** Why. */
  reason: string;
}

interface RawBatch {
  gen: number;
  exp: number;
  m: bigint;
  time: bigint;
  start: number;
  end: number;
  endOfGeneration: boolean;
}

/** A batch the file ends inside of; `gen` when its header was readable. */
interface CutBatch {
  cut: true;
  gen?: number;
}

/** Reads one batch header at `pos`; a {@linkcode CutBatch} when the file ends inside it. */
function readBatch(bytes: Uint8Array, pos: number): RawBatch | CutBatch | "eof" {
  if (pos >= bytes.length) return "eof";
  const t = bytes[pos];
  if (t === Ev.EndOfGeneration) {
    return { gen: 0, exp: 0, m: 0n, time: 0n, start: pos + 1, end: pos + 1, endOfGeneration: true };
  }
  if (t !== Ev.EventBatch && t !== Ev.ExperimentalBatch) {
    throw new GoTraceError(`expected a batch (type 1 or 49), found byte ${t}`, pos);
  }
  const c = new ByteCursor(bytes, pos + 1, bytes.length);
  let gen: number | undefined;
  try {
    const exp = t === Ev.ExperimentalBatch ? c.byte() : 0;
    gen = c.id("generation number");
    const m = c.big();
    const time = c.big();
    const size = c.id("batch size");
    if (size > MAX_BATCH_SIZE) throw new GoTraceError(`batch size ${size} exceeds the maximum ${MAX_BATCH_SIZE}`, pos);
    if (c.pos + size > bytes.length) return { cut: true, gen };
    return { gen, exp, m, time, start: c.pos, end: c.pos + size, endOfGeneration: false };
  } catch (e) {
    if (e instanceof GoTraceError && e.message.startsWith("truncated") || c.pos >= bytes.length) {
      return { cut: true, gen };
    }
    throw e;
  }
}

function newGeneration(gen: number): Generation {
  return {
    gen,
    batches: [],
    strings: new Map(),
    stacks: new Map(),
    freq: 0n,
    minTime: -1n,
    experimentalBatches: 0,
    cpuSamples: 0,
  };
}

const utf8 = new TextDecoder();

function addStrings(g: Generation, bytes: Uint8Array, b: RawBatch): void {
  const c = new ByteCursor(bytes, b.start + 1, b.end);
  while (c.more()) {
    const at = c.pos;
    const t = c.byte();
    if (t !== Ev.String) throw new GoTraceError(`expected a string (type 5) in the string table, found ${t}`, at);
    const id = c.id("string id");
    const len = c.id("string length");
    if (len > MAX_STRING_SIZE) throw new GoTraceError(`string ${id} is ${len} bytes, maximum ${MAX_STRING_SIZE}`, at);
    if (c.pos + len > c.end) throw new GoTraceError(`string ${id} runs past its batch`, at);
    if (g.strings.has(id)) throw new GoTraceError(`string id ${id} defined twice in generation ${g.gen}`, at);
    g.strings.set(id, utf8.decode(bytes.subarray(c.pos, c.pos + len)));
    c.pos += len;
  }
}

interface PendingFrame {
  func: number;
  file: number;
  line: number;
}

function addStacks(bytes: Uint8Array, b: RawBatch, into: Map<number, PendingFrame[]>, gen: number): void {
  const c = new ByteCursor(bytes, b.start + 1, b.end);
  while (c.more()) {
    const at = c.pos;
    const t = c.byte();
    if (t !== Ev.Stack) throw new GoTraceError(`expected a stack (type 3) in the stack table, found ${t}`, at);
    const id = c.id("stack id");
    const n = c.id("frame count");
    if (n > MAX_FRAMES) throw new GoTraceError(`stack ${id} has ${n} frames, maximum ${MAX_FRAMES}`, at);
    const frames: PendingFrame[] = new Array(n);
    for (let i = 0; i < n; i++) {
      c.skip(1); // pc
      frames[i] = { func: c.id("function string id"), file: c.id("file string id"), line: c.id("line number") };
    }
    if (into.has(id)) throw new GoTraceError(`stack id ${id} defined twice in generation ${gen}`, at);
    into.set(id, frames);
  }
}

function setSync(g: Generation, bytes: Uint8Array, b: RawBatch, version: GoTraceVersion): void {
  const c = new ByteCursor(bytes, b.start, b.end);
  if (version >= 25) c.byte(); // the Sync byte
  let ticks = b.time;
  while (c.more()) {
    const at = c.pos;
    const t = c.byte();
    if (t === Ev.Frequency) {
      if (g.freq !== 0n) throw new GoTraceError(`two frequency events in generation ${g.gen}`, at);
      const f = c.big();
      if (f === 0n) throw new GoTraceError(`frequency 0 in generation ${g.gen}`, at);
      g.freq = f;
    } else if (t === Ev.ClockSnapshot && version >= 25) {
      if (g.clock) throw new GoTraceError(`two clock snapshots in generation ${g.gen}`, at);
      ticks += c.big();
      const monoNs = c.big();
      const sec = c.big();
      const nsec = c.big();
      g.clock = { ticks, monoNs, wallNs: sec * 1_000_000_000n + nsec };
    } else {
      throw new GoTraceError(`expected a frequency or clock snapshot in a sync batch, found event ${t}`, at);
    }
  }
}

function walkExperimental(bytes: Uint8Array, b: RawBatch, counts: Uint8Array): void {
  if (b.exp !== EXPERIMENT_ALLOC_FREE) return; // unknown experiment: skipped by its size
  const c = new ByteCursor(bytes, b.start, b.end);
  while (c.more()) {
    const at = c.pos;
    const t = c.byte();
    const n = counts[t];
    if (n === 0) throw new GoTraceError(`unknown experimental event type ${t}`, at);
    c.skip(n);
  }
}

function countCpuSamples(bytes: Uint8Array, b: RawBatch): number {
  const c = new ByteCursor(bytes, b.start + 1, b.end);
  let n = 0;
  while (c.more()) {
    const at = c.pos;
    const t = c.byte();
    if (t !== Ev.CPUSample) throw new GoTraceError(`expected a CPU sample (type 7), found ${t}`, at);
    c.skip(5);
    n++;
  }
  return n;
}

/** Checks a generation's invariants and resolves its stack table; throws when it is not usable. */
function finish(
  g: Generation,
  frames: Map<number, PendingFrame[]>,
  version: GoTraceVersion,
): Generation {
  if (g.freq === 0n) throw new GoTraceError(`generation ${g.gen} has no frequency event`);
  if (version >= 25 && !g.clock) throw new GoTraceError(`generation ${g.gen} has no clock snapshot`);
  for (const [id, fs] of frames) {
    g.stacks.set(
      id,
      fs.map((f) => {
        // string id 0 is the empty string, as in Go's tables
        const func = f.func === 0 ? "" : g.strings.get(f.func);
        const file = f.file === 0 ? "" : g.strings.get(f.file);
        if (func === undefined || file === undefined) {
          throw new GoTraceError(
            `stack ${id} of generation ${g.gen} names string ${
              func === undefined ? f.func : f.file
            }, absent from its string table`,
          );
        }
        return { func, file, line: f.line };
      }),
    );
  }
  return g;
}

/** The result of {@linkcode readGenerations}'s iteration: the trace's generations, then what was cut off. */
export interface GenerationReader {
  /** Complete generations in order. */
  generations(): Generator<Generation>;
  /** Set once iteration ends: the truncated tail, if any. */
  truncation?: Truncation;
}

/**
 * Reads the generations of a trace lazily (one generation's batches held at a
 * time). Throws {@linkcode GoTraceError} for a malformed trace.
 */
export function readGenerations(bytes: Uint8Array, version: GoTraceVersion): GenerationReader {
  const expCounts = experimentalArgCounts(version);
  const reader: GenerationReader = {
    *generations() {
      let pos = HEADER_BYTES;
      let cur: Generation | undefined;
      let frames = new Map<number, PendingFrame[]>();
      let curStart = pos;
      let lastGen = 0;
      const truncate = (reason: string, from: number) => {
        const t = reader.truncation;
        reader.truncation = t
          ? { bytes: Math.max(t.bytes, bytes.length - from), reason: `${t.reason}; ${reason}` }
          : { bytes: bytes.length - from, reason };
      };
      for (;;) {
        const at = pos;
        const b = readBatch(bytes, pos);
        if (b === "eof") break;
        if ("cut" in b) {
          // the generation the cut batch belongs to is incomplete: dropped
          truncate(`the last batch is cut short at byte ${at}`, at);
          if (cur && (b.gen === undefined || b.gen === cur.gen || version >= 26)) {
            truncate(`generation ${cur.gen} is incomplete`, curStart);
            return;
          }
          break;
        }
        pos = b.end;
        if (b.endOfGeneration) {
          if (version < 26) throw new GoTraceError(`end-of-generation marker in a Go 1.${version} trace`, at);
          if (!cur) throw new GoTraceError("end-of-generation marker without a generation", at);
          yield finish(cur, frames, version);
          lastGen = cur.gen;
          cur = undefined;
          frames = new Map();
          curStart = pos;
          continue;
        }
        if (b.gen === 0) throw new GoTraceError("generation number 0 is invalid", at);
        if (cur && b.gen !== cur.gen) {
          if (version >= 26) {
            throw new GoTraceError(
              `batch of generation ${b.gen} inside generation ${cur.gen} (missing end-of-generation marker)`,
              at,
            );
          }
          if (b.gen !== cur.gen + 1) {
            throw new GoTraceError(`generation ${b.gen} follows generation ${cur.gen} (out of order)`, at);
          }
          yield finish(cur, frames, version);
          lastGen = cur.gen;
          cur = undefined;
          frames = new Map();
          curStart = at;
        }
        if (!cur) {
          if (lastGen !== 0 && b.gen !== lastGen + 1) {
            throw new GoTraceError(`generation ${b.gen} follows generation ${lastGen} (out of order)`, at);
          }
          cur = newGeneration(b.gen);
        }
        if (cur.minTime < 0n || b.time < cur.minTime) cur.minTime = b.time;
        const first = b.end > b.start ? bytes[b.start] : -1;
        if (b.exp !== 0) {
          walkExperimental(bytes, b, expCounts);
          cur.experimentalBatches++;
        } else if (first === Ev.Strings) {
          addStrings(cur, bytes, b);
        } else if (first === Ev.Stacks) {
          addStacks(bytes, b, frames, cur.gen);
        } else if (first === Ev.CPUSamples) {
          cur.cpuSamples += countCpuSamples(bytes, b);
        } else if ((version < 25 && first === Ev.Frequency) || (version >= 25 && first === Ev.Sync)) {
          setSync(cur, bytes, b, version);
        } else {
          cur.batches.push({ m: b.m, time: b.time, start: b.start, end: b.end });
        }
      }
      if (!cur) return;
      // the last generation: complete unless its end marker (1.26) or its clock data is missing
      if (version >= 26) {
        truncate(`generation ${cur.gen} has no end-of-generation marker (trace cut short)`, curStart);
        return;
      }
      if (cur.freq === 0n || (version >= 25 && !cur.clock)) {
        truncate(
          `generation ${cur.gen} has no ${cur.freq === 0n ? "frequency" : "clock snapshot"} (trace cut short)`,
          curStart,
        );
        return;
      }
      yield finish(cur, frames, version);
    },
  };
  return reader;
}
