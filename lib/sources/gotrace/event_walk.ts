/**
 * Walking the event batches of one generation: every event is decoded far
 * enough to advance the timestamp and the M's scheduling context, and the
 * events the span mapping needs are extracted as {@linkcode TraceRecord}s,
 * sorted by time (the order across Ms; within an M, file order).
 * @module
 */
import { batchEventArgCounts, Ev, eventName } from "./event_types.ts";
import type { Generation } from "./generations.ts";
import type { GoTraceVersion } from "./header.ts";
import { GoTraceError } from "./parse_error.ts";
import { GoState, Range, Rec, type TraceRecord } from "./records.ts";
import { NONE, Scheduler } from "./scheduler.ts";
import { ByteCursor } from "./uvarint.ts";

const MAX_REL = 2 ** 53;

/** Options of {@linkcode walkGeneration}. */
export interface WalkOptions {
  /** Extract goroutine state changes too (volume: off by default). */
  goroutineStates: boolean;
  /** Extract runtime ranges (GC, STW, sweep, mark assist). */
  ranges: boolean;
}

/** What a walk found besides the records. */
export interface WalkResult {
  records: TraceRecord[];
  /** Events decoded. */
  events: number;
  /** Smallest and largest event time (ticks after `minTime`); -1 when no event. */
  firstTs: number;
  lastTs: number;
}

function rec(kind: number, ts: number, g: number, a: number, b: number, c: number, stack: number): TraceRecord {
  return { kind, ts, g, a, b, c, stack };
}

function needP(p: number, t: number, at: number, gen: number): void {
  if (p === NONE) {
    throw new GoTraceError(
      `${eventName(t)} in generation ${gen} on an M without a P: expected a proc but didn't have one`,
      at,
    );
  }
}

/** Walks generation `g`; throws {@linkcode GoTraceError} on malformed events. */
export function walkGeneration(
  bytes: Uint8Array,
  g: Generation,
  version: GoTraceVersion,
  sched: Scheduler,
  o: WalkOptions,
): WalkResult {
  const counts = batchEventArgCounts(version);
  const out: TraceRecord[] = [];
  let events = 0;
  let firstTs = -1;
  let lastTs = -1;
  const states = o.goroutineStates;
  const ranges = o.ranges;
  for (const b of g.batches) {
    const ctx = sched.of(b.m);
    const mNum = Number(b.m);
    const c = new ByteCursor(bytes, b.start, b.end);
    const relBig = b.time - g.minTime;
    if (relBig >= BigInt(MAX_REL)) {
      throw new GoTraceError(`batch time ${b.time} is 2^53 ticks or more after the generation's start`, b.start);
    }
    let ts = Number(relBig);
    while (c.pos < b.end) {
      const at = c.pos;
      const t = bytes[c.pos++];
      const n = counts[t];
      if (n === 0) {
        throw new GoTraceError(`${eventName(t)} is not valid in an event batch of a Go 1.${version} trace`, at);
      }
      ts += c.u();
      if (c.inexact || ts >= MAX_REL) throw new GoTraceError("timestamp delta overflows", at);
      events++;
      if (firstTs < 0 || ts < firstTs) firstTs = ts;
      if (ts > lastTs) lastTs = ts;
      switch (t) {
        case Ev.ProcStart:
          ctx.p = c.id("P id");
          c.skip(1);
          break;
        case Ev.ProcStatus: {
          const p = c.id("P id");
          const status = c.u();
          if (status === 1 || status === 3) ctx.p = p;
          break;
        }
        case Ev.ProcStop:
          needP(ctx.p, t, at, g.gen);
          ctx.p = NONE;
          break;
        case Ev.GoCreate:
        case Ev.GoCreateBlocked:
          needP(ctx.p, t, at, g.gen);
          c.skip(3);
          break;
        case Ev.GoStart: {
          needP(ctx.p, t, at, g.gen);
          const goid = c.id("goroutine id");
          c.skip(1);
          ctx.g = goid;
          if (states) out.push(rec(Rec.GoState, ts, goid, GoState.Running, 0, 0, 0));
          break;
        }
        case Ev.GoSwitch:
        case Ev.GoSwitchDestroy: {
          const goid = c.id("goroutine id");
          c.skip(1);
          if (states && ctx.g !== NONE) {
            out.push(
              rec(Rec.GoState, ts, ctx.g, t === Ev.GoSwitch ? GoState.Waiting : GoState.Dead, 0, 0, 0),
            );
          }
          ctx.g = goid;
          if (states) out.push(rec(Rec.GoState, ts, goid, GoState.Running, 0, 0, 0));
          break;
        }
        case Ev.GoCreateSyscall:
          ctx.g = c.id("goroutine id");
          break;
        case Ev.GoStatus:
        case Ev.GoStatusStack: {
          const goid = c.id("goroutine id");
          const m = c.u();
          const status = c.u();
          if (t === Ev.GoStatusStack) c.skip(1);
          if (status === 2 || (status === 3 && m === mNum)) ctx.g = goid;
          break;
        }
        case Ev.GoStop:
        case Ev.GoBlock: {
          const reason = c.id("string id");
          const stack = c.id("stack id");
          if (states && ctx.g !== NONE) {
            out.push(
              rec(Rec.GoState, ts, ctx.g, t === Ev.GoStop ? GoState.Runnable : GoState.Waiting, reason, 0, stack),
            );
          }
          ctx.g = NONE;
          break;
        }
        case Ev.GoDestroy:
        case Ev.GoDestroySyscall:
        case Ev.GoSyscallEndBlocked:
          if (states && ctx.g !== NONE) {
            out.push(
              rec(Rec.GoState, ts, ctx.g, t === Ev.GoSyscallEndBlocked ? GoState.Runnable : GoState.Dead, 0, 0, 0),
            );
          }
          ctx.g = NONE;
          break;
        case Ev.GoUnblock: {
          const goid = c.id("goroutine id");
          c.skip(1);
          const stack = c.id("stack id");
          if (states) out.push(rec(Rec.GoState, ts, goid, GoState.Runnable, 0, 0, stack));
          break;
        }
        case Ev.GoSyscallBegin: {
          c.skip(1);
          const stack = c.id("stack id");
          if (states && ctx.g !== NONE) out.push(rec(Rec.GoState, ts, ctx.g, GoState.Syscall, 0, 0, stack));
          break;
        }
        case Ev.GoSyscallEnd:
          if (states && ctx.g !== NONE) out.push(rec(Rec.GoState, ts, ctx.g, GoState.Running, 0, 0, 0));
          break;
        case Ev.UserTaskBegin: {
          const task = c.id("task id");
          const parent = c.id("task id");
          const name = c.id("string id");
          const stack = c.id("stack id");
          out.push(rec(Rec.TaskBegin, ts, ctx.g, task, parent, name, stack));
          break;
        }
        case Ev.UserTaskEnd: {
          const task = c.id("task id");
          const stack = c.id("stack id");
          out.push(rec(Rec.TaskEnd, ts, ctx.g, task, 0, 0, stack));
          break;
        }
        case Ev.UserRegionBegin:
        case Ev.UserRegionEnd: {
          const task = c.id("task id");
          const name = c.id("string id");
          const stack = c.id("stack id");
          out.push(rec(t === Ev.UserRegionBegin ? Rec.RegionBegin : Rec.RegionEnd, ts, ctx.g, task, name, 0, stack));
          break;
        }
        case Ev.UserLog: {
          const task = c.id("task id");
          const key = c.id("string id");
          const value = c.id("string id");
          const stack = c.id("stack id");
          out.push(rec(Rec.Log, ts, ctx.g, task, key, value, stack));
          break;
        }
        case Ev.GCBegin:
        case Ev.GCActive:
        case Ev.GCEnd: {
          const seq = c.id("GC sequence number");
          const stack = t === Ev.GCBegin ? c.id("stack id") : 0;
          if (ranges) {
            const kind = t === Ev.GCBegin ? Rec.RangeBegin : t === Ev.GCEnd ? Rec.RangeEnd : Rec.RangeActive;
            out.push(rec(kind, ts, NONE, Range.GC, seq, 0, stack));
          }
          break;
        }
        case Ev.STWBegin: {
          const kind = c.id("string id");
          const stack = c.id("stack id");
          if (ranges) out.push(rec(Rec.RangeBegin, ts, ctx.g, Range.STW, ctx.g, kind, stack));
          break;
        }
        case Ev.STWEnd:
          if (ranges) out.push(rec(Rec.RangeEnd, ts, ctx.g, Range.STW, ctx.g, 0, 0));
          break;
        case Ev.GCSweepBegin: {
          const stack = c.id("stack id");
          if (ranges) out.push(rec(Rec.RangeBegin, ts, ctx.g, Range.Sweep, ctx.p, 0, stack));
          break;
        }
        case Ev.GCSweepActive: {
          const p = c.id("P id");
          if (ranges) out.push(rec(Rec.RangeActive, ts, NONE, Range.Sweep, p, 0, 0));
          break;
        }
        case Ev.GCSweepEnd: {
          const swept = c.big();
          const reclaimed = c.big();
          if (ranges) {
            const r = rec(Rec.RangeEnd, ts, ctx.g, Range.Sweep, ctx.p, 0, 0);
            r.x = swept;
            r.y = reclaimed;
            out.push(r);
          }
          break;
        }
        case Ev.GCMarkAssistBegin: {
          const stack = c.id("stack id");
          if (ranges) out.push(rec(Rec.RangeBegin, ts, ctx.g, Range.MarkAssist, ctx.g, 0, stack));
          break;
        }
        case Ev.GCMarkAssistActive: {
          const goid = c.id("goroutine id");
          if (ranges) out.push(rec(Rec.RangeActive, ts, goid, Range.MarkAssist, goid, 0, 0));
          break;
        }
        case Ev.GCMarkAssistEnd:
          if (ranges) out.push(rec(Rec.RangeEnd, ts, ctx.g, Range.MarkAssist, ctx.g, 0, 0));
          break;
        default:
          c.skip(n - 1);
      }
    }
  }
  out.sort((x, y) => x.ts - y.ts);
  return { records: out, events, firstTs, lastTs };
}

/** The last event time of generation `g` (ticks after `minTime`), decoding only timestamps; -1 when empty. */
export function lastEventTime(bytes: Uint8Array, g: Generation, version: GoTraceVersion): number {
  const counts = batchEventArgCounts(version);
  let last = -1;
  for (const b of g.batches) {
    const c = new ByteCursor(bytes, b.start, b.end);
    let ts = Number(b.time - g.minTime);
    while (c.pos < b.end) {
      const at = c.pos;
      const n = counts[bytes[c.pos++]];
      if (n === 0) {
        throw new GoTraceError(`${eventName(bytes[at])} is not valid in an event batch of a Go 1.${version} trace`, at);
      }
      ts += c.u();
      c.skip(n - 1);
      if (ts > last) last = ts;
    }
  }
  return last;
}
