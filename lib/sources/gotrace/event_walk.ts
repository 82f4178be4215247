/**
 * Walking the event batches of one generation: every event is decoded far
 * enough to advance the timestamp and the M's scheduling context, and the
 * events the span mapping needs are extracted into a {@linkcode RecordBuffer},
 * one run per batch, read in time order (across Ms by timestamp; within an M,
 * file order).
 * @module
 */
import { batchEventArgCounts, Ev, eventName } from "./event_types.ts";
import type { EventBatch, Generation } from "./generations.ts";
import type { GoTraceVersion } from "./header.ts";
import { GoTraceError } from "./parse_error.ts";
import { GoState, Range, Rec, RecordBuffer } from "./records.ts";
import { type MContext, NONE, Scheduler } from "./scheduler.ts";
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
  /** Extracted rows, read with `timeOrder()`. */
  records: RecordBuffer;
  /** Events decoded. */
  events: number;
  /** Smallest and largest event time (ticks after `minTime`); -1 when no event. */
  firstTs: number;
  lastTs: number;
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
  out: RecordBuffer = new RecordBuffer(),
): WalkResult {
  const counts = batchEventArgCounts(version);
  // room for a row per 16 bytes of events (an annotation takes 5 or more; most events are not extracted)
  let bytesInBatches = 0;
  for (const b of g.batches) bytesInBatches += b.end - b.start;
  out.reset(Math.min(bytesInBatches >> 4, 1 << 20));
  const res: WalkResult = { records: out, events: 0, firstTs: -1, lastTs: -1 };
  // an M's batches one after the other (its context depends on its own events only): its rows form one time-ordered
  // run, and the merge in RecordBuffer.timeOrder works over a run per M instead of one per batch
  const byM = new Map<bigint, EventBatch[]>();
  for (const b of g.batches) {
    const list = byM.get(b.m);
    if (list) list.push(b);
    else byM.set(b.m, [b]);
  }
  for (const b of [...byM.values()].flat()) {
    const relBig = b.time - g.minTime;
    if (relBig >= BigInt(MAX_REL)) {
      throw new GoTraceError(`batch time ${b.time} is 2^53 ticks or more after the generation's start`, b.start);
    }
    walkBatch(bytes, b, Number(relBig), g.gen, version, counts, sched.of(b.m), out, o, res);
  }
  return res;
}

/** Walks one batch (its own function: V8 optimizes it as a whole, not as an inner loop). */
function walkBatch(
  bytes: Uint8Array,
  b: EventBatch,
  startTs: number,
  gen: number,
  version: GoTraceVersion,
  counts: Uint8Array,
  ctx: MContext,
  out: RecordBuffer,
  o: WalkOptions,
  res: WalkResult,
): void {
  const states = o.goroutineStates;
  const ranges = o.ranges;
  const mNum = Number(b.m);
  const c = new ByteCursor(bytes, b.start, b.end);
  let ts = startTs;
  let events = 0;
  let firstTs = res.firstTs;
  let lastTs = res.lastTs;
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
        needP(ctx.p, t, at, gen);
        ctx.p = NONE;
        break;
      case Ev.GoCreate:
      case Ev.GoCreateBlocked:
        needP(ctx.p, t, at, gen);
        c.skip(3);
        break;
      case Ev.GoStart: {
        needP(ctx.p, t, at, gen);
        const goid = c.id("goroutine id");
        c.skip(1);
        ctx.g = goid;
        if (states) out.push(Rec.GoState, ts, goid, GoState.Running, 0, 0, 0);
        break;
      }
      case Ev.GoSwitch:
      case Ev.GoSwitchDestroy: {
        const goid = c.id("goroutine id");
        c.skip(1);
        if (states && ctx.g !== NONE) {
          out.push(
            Rec.GoState,
            ts,
            ctx.g,
            t === Ev.GoSwitch ? GoState.Waiting : GoState.Dead,
            0,
            0,
            0,
          );
        }
        ctx.g = goid;
        if (states) out.push(Rec.GoState, ts, goid, GoState.Running, 0, 0, 0);
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
            Rec.GoState,
            ts,
            ctx.g,
            t === Ev.GoStop ? GoState.Runnable : GoState.Waiting,
            reason,
            0,
            stack,
          );
        }
        ctx.g = NONE;
        break;
      }
      case Ev.GoDestroy:
      case Ev.GoDestroySyscall:
      case Ev.GoSyscallEndBlocked:
        // a P held through the syscall is abandoned with the goroutine (Go's ordering does the same)
        if (t === Ev.GoDestroySyscall) ctx.p = NONE;
        if (states && ctx.g !== NONE) {
          out.push(
            Rec.GoState,
            ts,
            ctx.g,
            t === Ev.GoSyscallEndBlocked ? GoState.Runnable : GoState.Dead,
            0,
            0,
            0,
          );
        }
        ctx.g = NONE;
        break;
      case Ev.GoUnblock: {
        const goid = c.id("goroutine id");
        c.skip(1);
        const stack = c.id("stack id");
        if (states) out.push(Rec.GoState, ts, goid, GoState.Runnable, 0, 0, stack);
        break;
      }
      case Ev.GoSyscallBegin: {
        needP(ctx.p, t, at, gen);
        c.skip(1);
        const stack = c.id("stack id");
        if (states && ctx.g !== NONE) out.push(Rec.GoState, ts, ctx.g, GoState.Syscall, 0, 0, stack);
        break;
      }
      case Ev.GoSyscallEnd:
        needP(ctx.p, t, at, gen);
        if (states && ctx.g !== NONE) out.push(Rec.GoState, ts, ctx.g, GoState.Running, 0, 0, 0);
        break;
      case Ev.UserTaskBegin: {
        const task = c.id("task id");
        const parent = c.id("task id");
        const name = c.id("string id");
        const stack = c.id("stack id");
        out.push(Rec.TaskBegin, ts, ctx.g, task, parent, name, stack);
        break;
      }
      case Ev.UserTaskEnd: {
        const task = c.id("task id");
        const stack = c.id("stack id");
        out.push(Rec.TaskEnd, ts, ctx.g, task, 0, 0, stack);
        break;
      }
      case Ev.UserRegionBegin:
      case Ev.UserRegionEnd: {
        const task = c.id("task id");
        const name = c.id("string id");
        const stack = c.id("stack id");
        out.push(t === Ev.UserRegionBegin ? Rec.RegionBegin : Rec.RegionEnd, ts, ctx.g, task, name, 0, stack);
        break;
      }
      case Ev.UserLog: {
        const task = c.id("task id");
        const key = c.id("string id");
        const value = c.id("string id");
        const stack = c.id("stack id");
        out.push(Rec.Log, ts, ctx.g, task, key, value, stack);
        break;
      }
      case Ev.GCBegin:
      case Ev.GCActive:
      case Ev.GCEnd: {
        const seq = c.id("GC sequence number");
        const stack = t === Ev.GCBegin ? c.id("stack id") : 0;
        if (ranges) {
          const kind = t === Ev.GCBegin ? Rec.RangeBegin : t === Ev.GCEnd ? Rec.RangeEnd : Rec.RangeActive;
          // one GC at a time (Go pairs them globally; the sequence number counts phases): key 0, seq as data
          out.push(kind, ts, NONE, Range.GC, 0, seq, stack);
        }
        break;
      }
      case Ev.STWBegin: {
        const kind = c.id("string id");
        const stack = c.id("stack id");
        if (ranges) out.push(Rec.RangeBegin, ts, ctx.g, Range.STW, ctx.g, kind, stack);
        break;
      }
      case Ev.STWEnd:
        if (ranges) out.push(Rec.RangeEnd, ts, ctx.g, Range.STW, ctx.g, 0, 0);
        break;
      case Ev.GCSweepBegin: {
        const stack = c.id("stack id");
        if (ranges) out.push(Rec.RangeBegin, ts, ctx.g, Range.Sweep, ctx.p, 0, stack);
        break;
      }
      case Ev.GCSweepActive: {
        const p = c.id("P id");
        if (ranges) out.push(Rec.RangeActive, ts, NONE, Range.Sweep, p, 0, 0);
        break;
      }
      case Ev.GCSweepEnd: {
        const swept = c.big();
        const reclaimed = c.big();
        if (ranges) {
          const i = out.push(Rec.RangeEnd, ts, ctx.g, Range.Sweep, ctx.p, 0, 0);
          out.x.set(i, swept);
          out.y.set(i, reclaimed);
        }
        break;
      }
      case Ev.GCMarkAssistBegin: {
        const stack = c.id("stack id");
        if (ranges) out.push(Rec.RangeBegin, ts, ctx.g, Range.MarkAssist, ctx.g, 0, stack);
        break;
      }
      case Ev.GCMarkAssistActive: {
        const goid = c.id("goroutine id");
        if (ranges) out.push(Rec.RangeActive, ts, goid, Range.MarkAssist, goid, 0, 0);
        break;
      }
      case Ev.GCMarkAssistEnd:
        if (ranges) out.push(Rec.RangeEnd, ts, ctx.g, Range.MarkAssist, ctx.g, 0, 0);
        break;
      default:
        c.skip(n - 1);
    }
  }
  res.events += events;
  res.firstTs = firstTs;
  res.lastTs = lastTs;
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
