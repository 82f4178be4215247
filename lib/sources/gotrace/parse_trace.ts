/**
 * One trace file to spans: header, generations, event walk, span mapping.
 * Spans are handed over per generation (bounded memory); the wall-clock rule
 * is in `clock.ts`, the span rules in `span_mapping.ts`.
 * @module
 */
import type { Attributes, Resource, SpanData } from "../../core/span_data.ts";
import { type ClockSource, generationClock, ticksToNs } from "./clock.ts";
import { lastEventTime, walkGeneration } from "./event_walk.ts";
import { type Generation, readGenerations, type Truncation } from "./generations.ts";
import { type GoTraceVersion, readHeader } from "./header.ts";
import { GoTraceError } from "./parse_error.ts";
import { RecordBuffer } from "./records.ts";
import { Scheduler } from "./scheduler.ts";
import { createSpanMapper } from "./span_mapping.ts";

/** Rows of a record buffer kept for the next parse at most (~50 MB); a larger one is released. */
const KEEP_ROWS = 1 << 20;
let shared: RecordBuffer | undefined;

/** Options of {@linkcode parseGoTrace}. */
export interface GoTraceOptions {
  /** Resource attributes (service.name etc.); `go.trace.version` and `go.trace.clock` are added. */
  resourceAttributes: Attributes;
  /**
   * Wall-clock Unix ns of the trace's last event, for traces without clock
   * snapshots (before Go 1.25); `anchorSource` says where it came from.
   */
  anchorNs: bigint;
  /** Where `anchorNs` came from (default "file_mtime"). */
  anchorSource?: "file_mtime" | "anchor";
  /** Stack frames per span (default 10; 0: none). */
  frames?: number;
  /** Goroutine state changes as span events (default false). */
  goroutineStates?: boolean;
  /** Runtime ranges (GC, STW, sweep, mark assist) as spans (default true). */
  ranges?: boolean;
  /** Receives spans as they complete (per generation, and at the end). */
  onSpans(spans: SpanData[]): void;
}

/** What a parse found. */
export interface GoTraceSummary {
  version: GoTraceVersion;
  generations: number;
  firstGeneration: number;
  events: number;
  spans: number;
  clock: ClockSource;
  /** The truncated tail, when the trace was cut short (the rest was used). */
  truncation?: Truncation;
}

/**
 * Parses a whole trace and maps it to spans. Throws {@linkcode GoTraceError}
 * for a malformed trace (spans already handed over stay valid).
 */
export function parseGoTrace(bytes: Uint8Array, o: GoTraceOptions): GoTraceSummary {
  const steps = parseSteps(bytes, o);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * {@linkcode parseGoTrace} that gives the event loop a turn after each
 * generation (an agent converting a large file keeps exporting and answering
 * signals meanwhile).
 */
export async function parseGoTraceAsync(bytes: Uint8Array, o: GoTraceOptions): Promise<GoTraceSummary> {
  const steps = parseSteps(bytes, o);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** The parse, one generation per step. */
function* parseSteps(bytes: Uint8Array, o: GoTraceOptions): Generator<void, GoTraceSummary> {
  const version = readHeader(bytes);
  const reader = readGenerations(bytes, version);
  const gens: Generation[] = [...reader.generations()];
  const clock: ClockSource = version >= 25 ? "clock_snapshot" : (o.anchorSource ?? "file_mtime");
  const resource: Resource = {
    attributes: { ...o.resourceAttributes, "go.trace.version": `1.${version}`, "go.trace.clock": clock },
  };
  const summary: GoTraceSummary = {
    version,
    generations: gens.length,
    firstGeneration: gens.length ? gens[0].gen : 0,
    events: 0,
    spans: 0,
    clock,
    truncation: reader.truncation,
  };
  if (gens.length === 0) {
    if (reader.truncation) throw new GoTraceError(`no complete generation: ${reader.truncation.reason}`);
    return summary;
  }
  // traces without clock snapshots: the last event is at anchorNs
  let offsetNs = 0n;
  if (version < 25) {
    const last = gens[gens.length - 1];
    const lastTs = lastEventTime(bytes, last, version);
    offsetNs = o.anchorNs - ticksToNs(last.minTime + BigInt(Math.max(0, lastTs)), last.freq);
  }
  const mapper = createSpanMapper({
    resource,
    frames: o.frames,
    onSpans: (spans: SpanData[]) => {
      summary.spans += spans.length;
      o.onSpans(spans);
    },
  });
  const sched = new Scheduler();
  const walk = { goroutineStates: o.goroutineStates ?? false, ranges: o.ranges ?? true };
  let lastNs: bigint | undefined;
  // one buffer serves parse after parse (taken while in use), unless a huge generation grew it (then it is let go)
  const records = shared ?? new RecordBuffer();
  shared = undefined;
  for (let i = 0; i < gens.length; i++) {
    const g = gens[i];
    const gc = generationClock(g, offsetNs);
    const w = walkGeneration(bytes, g, version, sched, walk, records);
    summary.events += w.events;
    if (i === 0) mapper.setStart(gc.wall(Math.max(0, w.firstTs)));
    if (w.lastTs >= 0) lastNs = gc.wall(w.lastTs);
    mapper.generation(g, gc, w.records);
    if (i + 1 < gens.length) yield;
  }
  mapper.finish(lastNs ?? generationClock(gens[0], offsetNs).wall(0));
  if (records.capacity <= KEEP_ROWS) shared = records;
  return summary;
}
