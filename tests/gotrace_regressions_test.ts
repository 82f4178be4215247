/**
 * Traces made by the test writer that pin the parser's corner cases: string
 * id 0, the P released by `GoDestroySyscall`, a GC range begun and ended on
 * different Ms, and a stress trace (8 Ms, generations 3 to 5, starting inside
 * a GC) whose every begin, end and log is accounted for by the documented rules.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import type { SpanData } from "../lib/core/span_data.ts";
import { Ev } from "../lib/sources/gotrace/event_types.ts";
import { GoTraceError } from "../lib/sources/gotrace/parse_error.ts";
import { parseGoTrace } from "../lib/sources/gotrace/parse_trace.ts";
import { type BatchWriter, GoTraceWriter } from "./support/gotrace_writer.ts";
import { stressTrace } from "./support/gotrace_stress.ts";

function parse(bytes: Uint8Array): SpanData[] {
  const spans: SpanData[] = [];
  parseGoTrace(bytes, { resourceAttributes: {}, anchorNs: 0n, onSpans: (s) => spans.push(...s) });
  return spans;
}

/** One generation of a 1.22 trace (1 tick = 1 ns); `fill` writes the batches of Ms 1 and 2. */
function oneGeneration(fill: (m1: BatchWriter, m2: BatchWriter, str: (s: string) => number) => void): Uint8Array {
  const w = new GoTraceWriter(22);
  const g = w.generation(1, 1_000_000_000n, 100n);
  const m1 = g.batch(1n, 100n);
  const m2 = g.batch(2n, 100n);
  m1.ev(Ev.ProcStatus, 0, 0, 1).ev(Ev.GoStatus, 1, 1, 1, 2);
  m2.ev(Ev.ProcStatus, 0, 1, 1).ev(Ev.GoStatus, 1, 2, 2, 2);
  fill(m1, m2, (s) => g.str(s));
  g.end();
  return w.bytes();
}

Deno.test('string id 0 is the empty string: a region, a task and a log naming it parse and map to ""', () => {
  const spans = parse(oneGeneration((m1) => {
    m1.ev(Ev.UserTaskBegin, 10, 5, 0, 0, 0); // task 5, name string 0
    m1.ev(Ev.UserRegionBegin, 10, 5, 0, 0); // region, name string 0
    m1.ev(Ev.UserLog, 10, 0, 0, 0, 0); // log, key and value string 0
    m1.ev(Ev.UserRegionEnd, 10, 5, 0, 0);
    m1.ev(Ev.UserTaskEnd, 10, 5, 0);
  }));
  const task = spans.find((s) => s.attributes["go.trace.kind"] === "task")!;
  const region = spans.find((s) => s.attributes["go.trace.kind"] === "region")!;
  assertEquals([task.name, region.name], ["", ""]);
  assertEquals([task.attributes["spanprobe.incomplete"], region.attributes["spanprobe.incomplete"]], [
    undefined,
    undefined,
  ]);
  assertEquals(region.parentSpanId, task.spanId);
  const log = region.events!.find((e) => e.name === "go.log")!;
  assertEquals([log.attributes!["go.log.category"], log.attributes!["go.log.message"]], ["", ""]);
});

Deno.test("GoDestroySyscall releases the M's P: a later event needing one fails as in Go; ProcStart binds one again", () => {
  const needsP: [string, (b: BatchWriter) => void][] = [
    ["GoCreate", (b) => b.ev(Ev.GoCreate, 1, 50, 0, 0)],
    ["GoStart", (b) => b.ev(Ev.GoStart, 1, 50, 1)],
    ["GoSyscallBegin", (b) => b.ev(Ev.GoSyscallBegin, 1, 1, 0)],
    ["ProcStop", (b) => b.ev(Ev.ProcStop, 1)],
  ];
  const destroyed = (m2: BatchWriter) => m2.ev(Ev.GoSyscallBegin, 5, 1, 0).ev(Ev.GoDestroySyscall, 5);
  for (const [what, next] of needsP) {
    const bytes = oneGeneration((_m1, m2) => {
      destroyed(m2);
      next(m2);
    });
    throws(() => parse(bytes), (e: unknown) => {
      assert(e instanceof GoTraceError, what);
      assert(
        /^\w+ in generation 1 on an M without a P: expected a proc but didn't have one/.test(e.message),
        e.message,
      );
      assert(e.message.startsWith(what), e.message);
      return true;
    });
    // the same event after ProcStart on that M is fine
    parse(oneGeneration((_m1, m2) => {
      destroyed(m2);
      m2.ev(Ev.ProcStart, 1, 1, 2);
      next(m2);
    }));
  }
});

Deno.test("a GC begun on one M and ended on another (its sequence number moved on) is ONE complete span", () => {
  const spans = parse(oneGeneration((m1, m2) => {
    m1.ev(Ev.GCBegin, 20, 1, 0); // t=121
    m2.ev(Ev.GCEnd, 80, 2); // t=181
  }));
  const gc = spans.filter((s) => s.name === "GC concurrent mark phase");
  assertEquals(gc.length, 1);
  assertEquals(gc[0].attributes["spanprobe.incomplete"], undefined);
  assertEquals(gc[0].endNs - gc[0].startNs, 60n);
});

Deno.test("stress trace (8 Ms, generations 3-5, starting inside a GC): every begin, end and log accounted for", () => {
  const t = stressTrace();
  const spans = parse(t.bytes);
  const n = (name: string, ...why: (string | undefined)[]) =>
    spans.filter((s) => s.name === name && why.includes(s.attributes["spanprobe.incomplete"] as string)).length;
  const of = (kind: string, ...why: (string | undefined)[]) =>
    spans.filter((s) =>
      s.attributes["go.trace.kind"] === kind && why.includes(s.attributes["spanprobe.incomplete"] as string)
    ).length;
  // a trace worth the name
  assert(t.count(Ev.UserRegionBegin) > 200 && t.count(Ev.UserTaskBegin) > 50 && t.count(Ev.UserLog) > 100);
  assert(t.count(Ev.GCSweepBegin) > 50 && t.count(Ev.GCMarkAssistBegin) > 50 && t.count(Ev.GoStart) > 50);
  // GC: active at the start (ended in generation 4 on another M), one complete across generations 4-5, one open
  const GC = "GC concurrent mark phase";
  assertEquals([t.count(Ev.GCActive), t.count(Ev.GCBegin), t.count(Ev.GCEnd)], [1, 2, 2]);
  assertEquals([n(GC, "begin_missing"), n(GC, undefined), n(GC, "trace_end")], [1, 1, 1]);
  assertEquals(spans.filter((s) => s.name === GC).length, 3);
  assertEquals(n("stop-the-world (GC mark termination)", undefined), 1);
  // sweeps and mark assists: each end closes one; each begin or active opens one; the rest are open at the end
  for (
    const [name, begin, active, end] of [
      ["GC incremental sweep", Ev.GCSweepBegin, Ev.GCSweepActive, Ev.GCSweepEnd],
      ["GC mark assist", Ev.GCMarkAssistBegin, Ev.GCMarkAssistActive, Ev.GCMarkAssistEnd],
    ] as const
  ) {
    assertEquals(n(name, undefined, "begin_missing"), t.count(end), name);
    assertEquals(n(name, "begin_missing", "begin_and_end_missing"), t.count(active), name);
    assertEquals(n(name, undefined, "trace_end"), t.count(begin), name);
    assert(n(name, "trace_end") > 0 && t.count(active) > 0, `${name}: some open at the end, some active at the start`);
  }
  // regions and tasks: every end closes one span (begun in the trace or before it); every begin opens one
  assertEquals(of("region", undefined, "begin_missing"), t.count(Ev.UserRegionEnd));
  assertEquals(of("region", undefined, "trace_end", "enclosing_region_ended"), t.count(Ev.UserRegionBegin));
  assertEquals(of("task", undefined, "begin_missing"), t.count(Ev.UserTaskEnd));
  assertEquals(of("task", undefined, "trace_end"), t.count(Ev.UserTaskBegin));
  for (const why of ["begin_missing", "trace_end", "enclosing_region_ended"]) {
    assert(of("region", why) > 0, `some regions ${why}`);
  }
  assert(of("task", "begin_missing") > 0 && of("task", "trace_end") > 0, "tasks open at both ends");
  const logs = spans.flatMap((s) => s.events ?? []).filter((e) => e.name === "go.log").length;
  assertEquals(logs, t.count(Ev.UserLog));
});
