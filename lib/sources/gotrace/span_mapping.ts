/**
 * Turning extracted trace records into spans.
 *
 * - task → span (parent task → parent span; a root task starts a trace). The
 *   name is remembered while the task is open, so an end in a later
 *   generation (which carries no name) keeps it.
 * - region → child span of the innermost region still open on the same
 *   goroutine, else of its task's span; a region of task 0 (the background
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
 * with `spanprobe.incomplete = trace_end`. Both have status ERROR.
 * @module
 */
import { newSpanId, newTraceId } from "../../spans/ids.ts";
import {
  type Attributes,
  type Resource,
  type SpanData,
  type SpanEvent,
  SpanKind,
  type SpanStatus,
  StatusCode,
} from "../../spans/span_data.ts";
import type { GenerationClock } from "./clock.ts";
import type { Generation } from "./generations.ts";
import { GoTraceError } from "./parse_error.ts";
import { GoState, Range, Rec, type TraceRecord } from "./records.ts";

/** Options of {@linkcode createSpanMapper}. */
export interface MappingOptions {
  resource: Resource;
  /** Stack frames per span (0: no code attributes). Default 10. */
  frames?: number;
}

interface OpenSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startNs: bigint;
  attributes: Attributes;
  events?: SpanEvent[];
  incomplete?: "begin_missing";
  /** Regions: task id and name string (matching ends). */
  task: number;
  nameKey: string;
}

const UNSET: SpanStatus = { code: StatusCode.UNSET };
const STATE_NAMES: Record<number, string> = {
  [GoState.Running]: "running",
  [GoState.Runnable]: "runnable",
  [GoState.Waiting]: "waiting",
  [GoState.Syscall]: "syscall",
  [GoState.Dead]: "dead",
};
const MAX_ENDED_TASKS = 65536;

/** The stateful mapping; feed generations in order, then {@linkcode SpanMapper.finish}. */
export interface SpanMapper {
  /** Maps one generation's sorted records; completed spans are appended to `out`. */
  generation(g: Generation, clock: GenerationClock, records: TraceRecord[], out: SpanData[]): void;
  /** Ends everything still open at `lastNs` (the trace's last timestamp). */
  finish(lastNs: bigint, out: SpanData[]): void;
  /** Sets the trace's first timestamp (start of spans whose begin is missing). */
  setStart(firstNs: bigint): void;
}

/** A fresh mapper for one trace file. */
export function createSpanMapper(o: MappingOptions): SpanMapper {
  const frames = o.frames ?? 10;
  const resource = o.resource;
  const tasks = new Map<number, OpenSpan>();
  const endedTasks = new Map<number, { traceId: string; spanId: string }>();
  const regions = new Map<number, OpenSpan[]>();
  const openRanges = [new Map<number, OpenSpan>(), new Map(), new Map(), new Map(), new Map()];
  let firstNs = 0n;
  let stackCache = new Map<number, Attributes>();
  let gen: Generation | undefined;

  function str(id: number, what: string): string {
    const s = gen!.strings.get(id);
    if (s === undefined) throw new GoTraceError(`${what} names string ${id}, absent from generation ${gen!.gen}`);
    return s;
  }

  function addStack(attributes: Attributes, stack: number): void {
    if (frames === 0 || stack === 0) return;
    let a = stackCache.get(stack);
    if (!a) {
      a = {};
      const fs = gen!.stacks.get(stack);
      if (fs && fs.length) {
        a["code.function.name"] = fs[0].func;
        a["code.file.path"] = fs[0].file;
        a["code.line.number"] = fs[0].line;
        if (frames > 1 && fs.length > 1) {
          a["code.stacktrace"] = fs.slice(0, frames).map((f) => `${f.func}\n\t${f.file}:${f.line}`).join("\n");
        }
      }
      stackCache.set(stack, a);
    }
    for (const k in a) attributes[k] = a[k];
  }

  function open(
    name: string,
    startNs: bigint,
    parent: { traceId: string; spanId: string } | undefined,
    attributes: Attributes,
    task: number,
    nameKey: string,
  ): OpenSpan {
    return {
      traceId: parent ? parent.traceId : newTraceId(),
      spanId: newSpanId(),
      parentSpanId: parent?.spanId,
      name,
      startNs,
      attributes,
      task,
      nameKey,
    };
  }

  function close(s: OpenSpan, endNs: bigint, out: SpanData[], trailing?: "trace_end"): void {
    let status = UNSET;
    const reason = trailing ?? s.incomplete;
    if (reason) {
      s.attributes["spanprobe.incomplete"] = reason;
      status = {
        code: StatusCode.ERROR,
        message: reason === "trace_end" ? "still open at the end of the trace" : "began before the trace starts",
      };
    }
    const span: SpanData = {
      traceId: s.traceId,
      spanId: s.spanId,
      parentSpanId: s.parentSpanId,
      name: s.name,
      kind: SpanKind.INTERNAL,
      startNs: s.startNs,
      endNs: endNs < s.startNs ? s.startNs : endNs,
      attributes: s.attributes,
      status,
      resource,
    };
    if (s.events) span.events = s.events;
    out.push(span);
  }

  function innermostRegion(g: number): OpenSpan | undefined {
    const st = regions.get(g);
    return st && st.length ? st[st.length - 1] : undefined;
  }

  function taskParent(task: number): { traceId: string; spanId: string } | undefined {
    if (task === 0) return undefined;
    return tasks.get(task) ?? endedTasks.get(task);
  }

  function baseAttrs(kind: string, g: number): Attributes {
    const a: Attributes = { "go.trace.kind": kind };
    if (g >= 0) a["goroutine.id"] = g;
    return a;
  }

  const RANGE_NAMES = ["", "GC concurrent mark phase", "stop-the-world", "GC incremental sweep", "GC mark assist"];

  function rangeSpan(r: TraceRecord, t: bigint): OpenSpan {
    const a = baseAttrs("range", r.g);
    let name = RANGE_NAMES[r.a];
    if (r.a === Range.GC) a["go.gc.seq"] = r.b;
    if (r.a === Range.Sweep && r.b >= 0) a["go.proc.id"] = r.b;
    if (r.a === Range.STW && r.c) {
      const kind = str(r.c, "stop-the-world");
      a["go.stw.kind"] = kind;
      name = `stop-the-world (${kind})`;
    }
    addStack(a, r.stack);
    const parent = (r.a === Range.STW || r.a === Range.MarkAssist) && r.g >= 0 ? innermostRegion(r.g) : undefined;
    return open(name, t, parent, a, 0, "");
  }

  function endRange(s: OpenSpan, r: TraceRecord, t: bigint, out: SpanData[]): void {
    if (r.x !== undefined) s.attributes["go.gc.swept_bytes"] = r.x;
    if (r.y !== undefined) s.attributes["go.gc.reclaimed_bytes"] = r.y;
    close(s, t, out);
  }

  return {
    setStart(ns) {
      firstNs = ns;
    },
    generation(g, clock, records, out) {
      gen = g;
      stackCache = new Map();
      for (const r of records) {
        const t = clock.wall(r.ts);
        switch (r.kind) {
          case Rec.TaskBegin: {
            if (tasks.has(r.a)) throw new GoTraceError(`task ${r.a} begins twice (generation ${g.gen})`);
            const a = baseAttrs("task", r.g);
            a["go.task.id"] = r.a;
            if (r.b !== 0) a["go.task.parent_id"] = r.b;
            addStack(a, r.stack);
            const name = str(r.c, `task ${r.a}`);
            tasks.set(r.a, open(name, t, taskParent(r.b), a, r.a, name));
            break;
          }
          case Rec.TaskEnd: {
            let s = tasks.get(r.a);
            if (s) {
              tasks.delete(r.a);
            } else {
              const a = baseAttrs("task", r.g);
              a["go.task.id"] = r.a;
              s = open(`task ${r.a}`, firstNs, undefined, a, r.a, "");
              s.incomplete = "begin_missing";
            }
            if (endedTasks.size >= MAX_ENDED_TASKS) endedTasks.delete(endedTasks.keys().next().value!);
            endedTasks.set(r.a, { traceId: s.traceId, spanId: s.spanId });
            close(s, t, out);
            break;
          }
          case Rec.RegionBegin: {
            const name = str(r.b, "region");
            const a = baseAttrs("region", r.g);
            a["go.task.id"] = r.a;
            addStack(a, r.stack);
            const parent = innermostRegion(r.g) ?? taskParent(r.a);
            let st = regions.get(r.g);
            if (!st) regions.set(r.g, st = []);
            st.push(open(name, t, parent, a, r.a, name));
            break;
          }
          case Rec.RegionEnd: {
            const name = str(r.b, "region");
            const st = regions.get(r.g);
            let i = st ? st.length - 1 : -1;
            while (i >= 0 && (st![i].task !== r.a || st![i].nameKey !== name)) i--;
            if (i >= 0) {
              // regions opened inside it and never ended end with it
              while (st!.length > i + 1) close(st!.pop()!, t, out, "trace_end");
              close(st!.pop()!, t, out);
              if (st!.length === 0) regions.delete(r.g);
            } else {
              const a = baseAttrs("region", r.g);
              a["go.task.id"] = r.a;
              const s = open(name, firstNs, innermostRegion(r.g) ?? taskParent(r.a), a, r.a, name);
              s.incomplete = "begin_missing";
              close(s, t, out);
            }
            break;
          }
          case Rec.Log: {
            const ev: SpanEvent = {
              name: "go.log",
              timeNs: t,
              attributes: { "go.log.category": str(r.b, "log"), "go.log.message": str(r.c, "log") },
            };
            if (r.g >= 0) ev.attributes!["goroutine.id"] = r.g;
            const target = (r.a !== 0 ? tasks.get(r.a) : undefined) ?? innermostRegion(r.g);
            if (target) {
              (target.events ??= []).push(ev);
            } else {
              const a = baseAttrs("log", r.g);
              if (r.a !== 0) a["go.task.id"] = r.a;
              addStack(a, r.stack);
              const s = open("go.log", t, taskParent(r.a), a, r.a, "");
              s.events = [ev];
              close(s, t, out);
            }
            break;
          }
          case Rec.RangeBegin: {
            const m = openRanges[r.a];
            const prev = m.get(r.b);
            if (prev) close(prev, t, out, "trace_end");
            m.set(r.b, rangeSpan(r, t));
            break;
          }
          case Rec.RangeActive: {
            const m = openRanges[r.a];
            if (!m.has(r.b)) {
              const s = rangeSpan(r, firstNs);
              s.incomplete = "begin_missing";
              m.set(r.b, s);
            }
            break;
          }
          case Rec.RangeEnd: {
            const m = openRanges[r.a];
            let s = m.get(r.b);
            if (s) {
              m.delete(r.b);
            } else {
              s = rangeSpan(r, firstNs);
              s.incomplete = "begin_missing";
            }
            endRange(s, r, t, out);
            break;
          }
          case Rec.GoState: {
            const target = innermostRegion(r.g);
            if (!target) break;
            const attributes: Attributes = { "go.goroutine.state": STATE_NAMES[r.a], "goroutine.id": r.g };
            if (r.b) attributes["go.goroutine.reason"] = str(r.b, "goroutine state");
            (target.events ??= []).push({ name: "go.goroutine.state", timeNs: t, attributes });
            break;
          }
        }
      }
    },
    finish(lastNs, out) {
      for (const st of regions.values()) {
        for (let i = st.length - 1; i >= 0; i--) close(st[i], lastNs, out, "trace_end");
      }
      regions.clear();
      for (const s of tasks.values()) close(s, lastNs, out, "trace_end");
      tasks.clear();
      for (const m of openRanges) {
        for (const s of m.values()) close(s, lastNs, out, "trace_end");
        m.clear();
      }
    },
  };
}
