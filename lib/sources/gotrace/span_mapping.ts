/**
 * Turning extracted trace records into spans.
 *
 * - task → span (parent task → parent span; a root task starts a trace). The
 *   name is remembered while the task is open, so an end in a later
 *   generation (which carries no name) keeps it.
 * - region → child span of the innermost region still open on the same
 *   goroutine, else of its task's span (open, or recently ended: the last
 *   4096 task ids are remembered); a region of task 0 (the background
 *   task) outside any region is a root span of its own trace.
 * - log → span event `go.log` on its task's span; with task 0 or an unknown
 *   task, on the innermost open region of its goroutine; otherwise a
 *   zero-length span `go.log` (nothing is dropped).
 * - runtime ranges (GC mark phase, stop-the-world, sweep, mark assist) →
 *   internal spans; goroutine-bound ones are children of the goroutine's open
 *   region, if any.
 * - goroutine state changes (optional) → span events on the goroutine's
 *   innermost open region.
 *
 * Partial traces: an end without a begin (began before the trace starts)
 * starts at the trace's first timestamp with `spanprobe.incomplete =
 * begin_missing`; a begin without an end ends at the trace's last timestamp
 * with `spanprobe.incomplete = trace_end` (a region left open inside a region
 * that ends: `enclosing_region_ended`). All three have status ERROR.
 * @module
 */
import { newSpanId, newTraceId } from "../../core/ids.ts";
import {
  type Attributes,
  type Resource,
  type SpanData,
  type SpanEvent,
  SpanKind,
  type SpanStatus,
  StatusCode,
} from "../../core/span_data.ts";
import type { GenerationClock } from "./clock.ts";
import type { Generation } from "./generations.ts";
import { GoTraceError } from "./parse_error.ts";
import { GoState, Range, Rec, type RecordBuffer } from "./records.ts";

/** Options of {@linkcode createSpanMapper}. */
export interface MappingOptions {
  resource: Resource;
  /** Stack frames per span (0: no code attributes). Default 10. */
  frames?: number;
  /** Receives completed spans in batches. */
  onSpans(spans: SpanData[]): void;
}

/** Why a span was ended or started by a rule rather than by an event. */
type Incomplete = "begin_missing" | "trace_end" | "begin_and_end_missing" | "enclosing_region_ended";

const MESSAGES: Record<Incomplete, string> = {
  begin_missing: "began before the trace starts",
  trace_end: "still open at the end of the trace",
  begin_and_end_missing: "began before the trace starts and was still open at its end",
  enclosing_region_ended: "never ended; its enclosing region ended",
};

/** The open regions of one goroutine, innermost last. */
interface RegionStack {
  spans: SpanData[];
  tasks: number[];
  names: string[];
}

const UNSET: SpanStatus = { code: StatusCode.UNSET };
const STATE_NAMES: Record<number, string> = {
  [GoState.Running]: "running",
  [GoState.Runnable]: "runnable",
  [GoState.Waiting]: "waiting",
  [GoState.Syscall]: "syscall",
  [GoState.Dead]: "dead",
};
/** Ended tasks remembered (for regions and logs that name a task after its end). */
const MAX_ENDED_TASKS = 4096;
const BATCH = 256;
const RANGE_NAMES = ["", "GC concurrent mark phase", "stop-the-world", "GC incremental sweep", "GC mark assist"];

/** The stateful mapping; feed generations in order, then {@linkcode SpanMapper.finish}. */
export interface SpanMapper {
  /** Maps one generation's records (in time order). */
  generation(g: Generation, clock: GenerationClock, records: RecordBuffer): void;
  /** Ends everything still open at `lastNs` (the trace's last timestamp) and hands over the rest. */
  finish(lastNs: bigint): void;
  /** Sets the trace's first timestamp (start of spans whose begin is missing). */
  setStart(firstNs: bigint): void;
}

/** A fresh mapper for one trace file. */
export function createSpanMapper(o: MappingOptions): SpanMapper {
  const frames = o.frames ?? 10;
  const resource = o.resource;
  const tasks = new Map<number, SpanData>();
  // ended tasks, direct-mapped by id (Go numbers tasks in sequence: the last 4096 stay); a Map with
  // constant delete/set churn at this size degrades in V8 (deleted entries stay in its chains until a rehash)
  const endedIds = new Float64Array(MAX_ENDED_TASKS).fill(-1);
  const endedSpans: SpanData[] = new Array(MAX_ENDED_TASKS);
  const endedTask = (id: number): SpanData | undefined => {
    const slot = id % MAX_ENDED_TASKS;
    return endedIds[slot] === id ? endedSpans[slot] : undefined;
  };
  const regions = new Map<number, RegionStack>();
  let emptied = 0;
  const sweepRegions = () => {
    emptied = 0;
    for (const [goid, st] of regions) if (st.spans.length === 0) regions.delete(goid);
  };
  const openRanges = [new Map<number, SpanData>(), new Map(), new Map(), new Map(), new Map()];
  let firstNs = 0n;
  /** Code attributes of a stack (`func` undefined: an empty stack). */
  let stackCache = new Map<number, { func?: string; file: string; line: number; trace?: string }>();
  let gen: Generation | undefined;
  let out: SpanData[] = [];

  function str(id: number, what: string): string {
    if (id === 0) return ""; // id 0 is the empty string, as in Go's tables
    const s = gen!.strings.get(id);
    if (s === undefined) throw new GoTraceError(`${what} names string ${id}, absent from generation ${gen!.gen}`);
    return s;
  }

  function addStack(attributes: Attributes, stack: number): void {
    if (frames === 0 || stack === 0) return;
    let a = stackCache.get(stack);
    if (!a) {
      const fs = gen!.stacks.get(stack);
      a = fs && fs.length ? { func: fs[0].func, file: fs[0].file, line: fs[0].line } : { file: "", line: 0 };
      if (fs && frames > 1 && fs.length > 1) {
        a.trace = fs.slice(0, frames).map((f) => `${f.func}\n\t${f.file}:${f.line}`).join("\n");
      }
      stackCache.set(stack, a);
    }
    if (a.func === undefined) return;
    // constant keys: V8 caches these stores (a loop over key names did not)
    attributes["code.function.name"] = a.func;
    attributes["code.file.path"] = a.file;
    attributes["code.line.number"] = a.line;
    if (a.trace !== undefined) attributes["code.stacktrace"] = a.trace;
  }

  /** A span opened now; `endNs` is set when it closes. */
  function open(
    name: string,
    startNs: bigint,
    parent: { traceId: string; spanId: string } | undefined,
    attributes: Attributes,
  ): SpanData {
    return {
      traceId: parent ? parent.traceId : newTraceId(),
      spanId: newSpanId(),
      parentSpanId: parent?.spanId,
      name,
      kind: SpanKind.INTERNAL,
      startNs,
      endNs: startNs,
      attributes,
      status: UNSET,
      resource,
    };
  }

  function mark(s: SpanData, why: Incomplete): void {
    s.attributes["spanprobe.incomplete"] = why;
    s.status = { code: StatusCode.ERROR, message: MESSAGES[why] };
  }

  function close(s: SpanData, endNs: bigint, why?: Incomplete): void {
    if (why === "trace_end" && s.attributes["spanprobe.incomplete"] === "begin_missing") why = "begin_and_end_missing";
    if (why) mark(s, why);
    s.endNs = endNs < s.startNs ? s.startNs : endNs;
    out.push(s);
    if (out.length >= BATCH) {
      o.onSpans(out);
      out = [];
    }
  }

  function innermostRegion(g: number): SpanData | undefined {
    const st = regions.get(g);
    return st && st.spans.length ? st.spans[st.spans.length - 1] : undefined;
  }

  /**
   * The span of task `task` for a child, region or log: open, recently ended,
   * or — named before its begin was seen (it began before the trace) — opened
   * now at the trace's start as `task ID` with `begin_missing`, so everything
   * that names it attaches to one span.
   */
  function taskParent(task: number): SpanData | undefined {
    if (task === 0) return undefined;
    const known = tasks.get(task) ?? endedTask(task);
    if (known) return known;
    const s = open(`task ${task}`, firstNs, undefined, { "go.trace.kind": "task", "go.task.id": task });
    mark(s, "begin_missing");
    tasks.set(task, s);
    return s;
  }

  /** Attributes of a task or region, built in one literal (one object shape). */
  function annotationAttrs(kind: string, g: number, task: number): Attributes {
    if (g < 0) return { "go.trace.kind": kind, "go.task.id": task };
    return { "go.trace.kind": kind, "goroutine.id": g, "go.task.id": task };
  }

  function baseAttrs(kind: string, g: number): Attributes {
    const a: Attributes = { "go.trace.kind": kind };
    if (g >= 0) a["goroutine.id"] = g;
    return a;
  }

  /** A runtime range's span; `key` pairs begin and end, `desc` is the STW kind string or the GC sequence number. */
  function rangeSpan(kind: number, key: number, g: number, desc: number, stack: number, t: bigint): SpanData {
    const a = baseAttrs("range", g);
    let name = RANGE_NAMES[kind];
    if (kind === Range.GC) a["go.gc.seq"] = desc;
    if (kind === Range.Sweep && key >= 0) a["go.proc.id"] = key;
    if (kind === Range.STW && desc) {
      const k = str(desc, "stop-the-world");
      a["go.stw.kind"] = k;
      name = `stop-the-world (${k})`;
    }
    addStack(a, stack);
    const parent = (kind === Range.STW || kind === Range.MarkAssist) && g >= 0 ? innermostRegion(g) : undefined;
    return open(name, t, parent, a);
  }

  return {
    setStart(ns) {
      firstNs = ns;
    },
    generation(g, clock, r) {
      gen = g;
      stackCache = new Map();
      const { kind: K, g: G, a: A, b: B, c: C, stack: S, ts: T } = r;
      const order = r.timeOrder();
      for (let k = 0; k < order.length; k++) {
        const i = order[k];
        const t = clock.wall(T[i]);
        const goid = G[i];
        switch (K[i]) {
          case Rec.TaskBegin: {
            const id = A[i];
            if (tasks.has(id)) throw new GoTraceError(`task ${id} begins twice (generation ${g.gen})`);
            const a = annotationAttrs("task", goid, id);
            if (B[i] !== 0) a["go.task.parent_id"] = B[i];
            addStack(a, S[i]);
            tasks.set(id, open(str(C[i], `task ${id}`), t, taskParent(B[i]), a));
            break;
          }
          case Rec.TaskEnd: {
            const id = A[i];
            let s = tasks.get(id);
            if (s) {
              tasks.delete(id);
            } else {
              const a = baseAttrs("task", goid);
              a["go.task.id"] = id;
              s = open(`task ${id}`, firstNs, undefined, a);
              mark(s, "begin_missing");
            }
            endedIds[id % MAX_ENDED_TASKS] = id;
            endedSpans[id % MAX_ENDED_TASKS] = s;
            close(s, t);
            break;
          }
          case Rec.RegionBegin: {
            const name = str(B[i], "region");
            const a = annotationAttrs("region", goid, A[i]);
            addStack(a, S[i]);
            let st = regions.get(goid);
            const parent = (st && st.spans.length ? st.spans[st.spans.length - 1] : undefined) ?? taskParent(A[i]);
            if (!st) regions.set(goid, st = { spans: [], tasks: [], names: [] });
            st.spans.push(open(name, t, parent, a));
            st.tasks.push(A[i]);
            st.names.push(name);
            break;
          }
          case Rec.RegionEnd: {
            const name = str(B[i], "region");
            const st = regions.get(goid);
            let at = st ? st.spans.length - 1 : -1;
            while (at >= 0 && (st!.tasks[at] !== A[i] || st!.names[at] !== name)) at--;
            if (at >= 0) {
              // regions opened inside it and never ended end with it
              while (st!.spans.length > at + 1) {
                st!.tasks.pop();
                st!.names.pop();
                close(st!.spans.pop()!, t, "enclosing_region_ended");
              }
              st!.tasks.pop();
              st!.names.pop();
              close(st!.spans.pop()!, t);
              // empty stacks are kept for the goroutine's next region; swept now and then (goroutines come and go)
              if (st!.spans.length === 0 && ++emptied >= 65536) sweepRegions();
            } else {
              const a = baseAttrs("region", goid);
              a["go.task.id"] = A[i];
              const s = open(name, firstNs, innermostRegion(goid) ?? taskParent(A[i]), a);
              close(s, t, "begin_missing");
            }
            break;
          }
          case Rec.Log: {
            const ev: SpanEvent = {
              name: "go.log",
              timeNs: t,
              attributes: { "go.log.category": str(B[i], "log"), "go.log.message": str(C[i], "log") },
            };
            if (goid >= 0) ev.attributes!["goroutine.id"] = goid;
            const task = taskParent(A[i]);
            const target = (task && tasks.get(A[i]) === task ? task : undefined) ?? innermostRegion(goid);
            if (target) {
              (target.events ??= []).push(ev);
            } else {
              const a = baseAttrs("log", goid);
              if (A[i] !== 0) a["go.task.id"] = A[i];
              addStack(a, S[i]);
              const s = open("go.log", t, task, a);
              s.events = [ev];
              close(s, t);
            }
            break;
          }
          case Rec.RangeBegin: {
            const m = openRanges[A[i]];
            const prev = m.get(B[i]);
            if (prev) close(prev, t, "trace_end");
            m.set(B[i], rangeSpan(A[i], B[i], goid, C[i], S[i], t));
            break;
          }
          case Rec.RangeActive: {
            const m = openRanges[A[i]];
            if (!m.has(B[i])) {
              const s = rangeSpan(A[i], B[i], goid, C[i], 0, firstNs);
              mark(s, "begin_missing");
              m.set(B[i], s);
            }
            break;
          }
          case Rec.RangeEnd: {
            const m = openRanges[A[i]];
            let s = m.get(B[i]);
            if (s) {
              m.delete(B[i]);
            } else {
              s = rangeSpan(A[i], B[i], goid, C[i], 0, firstNs);
              mark(s, "begin_missing");
            }
            const x = r.x.get(i);
            const y = r.y.get(i);
            if (x !== undefined) s.attributes["go.gc.swept_bytes"] = x;
            if (y !== undefined) s.attributes["go.gc.reclaimed_bytes"] = y;
            close(s, t);
            break;
          }
          case Rec.GoState: {
            const target = innermostRegion(goid);
            if (!target) break;
            const attributes: Attributes = { "go.goroutine.state": STATE_NAMES[A[i]], "goroutine.id": goid };
            if (B[i]) attributes["go.goroutine.reason"] = str(B[i], "goroutine state");
            (target.events ??= []).push({ name: "go.goroutine.state", timeNs: t, attributes });
            break;
          }
        }
      }
      if (out.length) {
        o.onSpans(out);
        out = [];
      }
    },
    finish(lastNs) {
      for (const st of regions.values()) {
        for (let k = st.spans.length - 1; k >= 0; k--) close(st.spans[k], lastNs, "trace_end");
      }
      regions.clear();
      for (const s of tasks.values()) close(s, lastNs, "trace_end");
      tasks.clear();
      for (const m of openRanges) {
        for (const s of m.values()) close(s, lastNs, "trace_end");
        m.clear();
      }
      if (out.length) {
        o.onSpans(out);
        out = [];
      }
    },
  };
}
