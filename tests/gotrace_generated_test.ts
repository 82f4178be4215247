/**
 * Go execution traces made by the test writer: flight-recorder snapshots
 * (first generation > 1), truncated tails, 100k regions, every event type of
 * every format version, malformed headers, and 10,000 mutated files (no
 * crash, no hang: each failure is a GoTraceError).
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { Ev, TIMED_ARGS } from "../lib/sources/gotrace/event_types.ts";
import { GoTraceError } from "../lib/sources/gotrace/parse_error.ts";
import { type GoTraceSummary, parseGoTrace, parseGoTraceAsync } from "../lib/sources/gotrace/parse_trace.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { ByteSink, GoTraceWriter, headerBytes, NO_THREAD } from "./support/gotrace_writer.ts";
import { stressTrace } from "./support/gotrace_stress.ts";

const WALL0 = 1_750_000_000_000_000_000n;

function parse(bytes: Uint8Array, extra: { goroutineStates?: boolean } = {}) {
  const spans: SpanData[] = [];
  const summary: GoTraceSummary = parseGoTrace(bytes, {
    resourceAttributes: { "service.name": "gen" },
    anchorNs: WALL0,
    onSpans: (s) => spans.push(...s),
    ...extra,
  });
  return { spans, summary };
}

/** A 1.25 flight-recorder-like snapshot: generations 5 and 6, 1 GHz ticks, wall clock from snapshots. */
function snapshotTrace(version = 25): Uint8Array {
  const w = new GoTraceWriter(version);
  // generation 5: the task and the outer region began before the snapshot
  const g5 = w.generation(5, 1_000_000_000n, 1000n, { dt: 0, mono: 5n, sec: 1_750_000_000n, nsec: 0n });
  const b = g5.batch(1n, 1000n);
  b.ev(Ev.ProcStatus, 10, 0, 1).ev(Ev.GoStatus, 1, 7, 1, 2);
  b.ev(Ev.UserRegionBegin, 9, 3, g5.str("inner"), 0); // t=1020
  b.ev(Ev.UserRegionEnd, 30, 3, g5.str("inner"), 0); // t=1050
  b.ev(Ev.UserRegionEnd, 50, 3, g5.str("outer (began earlier)"), 0); // t=1100, no begin
  b.ev(Ev.UserRegionBegin, 100, 3, g5.str("spans generations"), 0); // t=1200
  g5.end();
  // generation 6: wall snapshot at tick 2000 = +1 s + 1000 ns
  const g6 = w.generation(6, 1_000_000_000n, 2000n, { dt: 0, mono: 6n, sec: 1_750_000_001n, nsec: 1000n });
  const b6 = g6.batch(1n, 2000n);
  b6.ev(Ev.ProcStatus, 10, 0, 1).ev(Ev.GoStatus, 1, 7, 1, 2);
  b6.ev(Ev.UserRegionEnd, 89, 3, g6.str("spans generations"), 0); // t=2100
  b6.ev(Ev.UserTaskEnd, 100, 3, 0); // t=2200, the task began before the snapshot
  b6.ev(Ev.UserRegionBegin, 100, 3, g6.str("never ends"), 0); // t=2300
  g6.end();
  return w.bytes();
}

Deno.test("snapshot starting at generation 5: begins before the snapshot and ends after it follow the documented rules", () => {
  for (const version of [25, 26]) {
    const { spans, summary } = parse(snapshotTrace(version));
    assertEquals(summary.firstGeneration, 5);
    assertEquals(summary.generations, 2);
    assertEquals(summary.clock, "clock_snapshot");
    const by = new Map(spans.map((s) => [s.name, s]));
    // the first event of the trace is at tick 1010 (wall = snapshot + 10 ns)
    const first = WALL0 + 10n;
    assertEquals([by.get("inner")!.startNs, by.get("inner")!.endNs], [WALL0 + 20n, WALL0 + 50n]);
    const outer = by.get("outer (began earlier)")!;
    assertEquals([outer.startNs, outer.endNs], [first, WALL0 + 100n]);
    assertEquals(outer.attributes["spanprobe.incomplete"], "begin_missing");
    assertEquals(outer.status.code, 2);
    // generation 6 has its own anchor: tick 2100 = 1 s + 1000 ns + 100 ns
    const across = by.get("spans generations")!;
    assertEquals([across.startNs, across.endNs], [WALL0 + 200n, WALL0 + 1_000_001_100n]);
    assertEquals(across.status.code, 0);
    const task = by.get("task 3")!;
    assertEquals(task.attributes["spanprobe.incomplete"], "begin_missing");
    assertEquals([task.startNs, task.endNs], [first, WALL0 + 1_000_001_200n]);
    const never = by.get("never ends")!;
    assertEquals([never.startNs, never.endNs], [WALL0 + 1_000_001_300n, WALL0 + 1_000_001_300n]);
    assertEquals(never.attributes["spanprobe.incomplete"], "trace_end");
    // regions of task 3 attach to its span: before its begin was seen (it began before the snapshot) and after its end
    assertEquals(never.parentSpanId, task.spanId);
    assertEquals(by.get("inner")!.parentSpanId, task.spanId);
    assertEquals(by.get("inner")!.traceId, task.traceId);
  }
});

Deno.test("the async parse gives the event loop a turn between generations and maps the same spans", async () => {
  const bytes = snapshotTrace(26);
  const sync = parse(bytes).spans.map((s) => [s.name, s.startNs, s.endNs]);
  const spans: SpanData[] = [];
  let ticked = false;
  setTimeout(() => ticked = true, 0);
  let tickedBeforeLast = false;
  const summary = await parseGoTraceAsync(bytes, {
    resourceAttributes: {},
    anchorNs: WALL0,
    onSpans: (s) => {
      spans.push(...s);
      if (s.some((x) => x.name === "never ends")) tickedBeforeLast = ticked;
    },
  });
  assertEquals(summary.generations, 2);
  assertEquals(spans.map((s) => [s.name, s.startNs, s.endNs]), sync);
  assert(tickedBeforeLast, "a timer ran before the last generation was mapped");
});

Deno.test("a truncated last batch: the complete generations are used and the cut is reported", () => {
  const whole = snapshotTrace(25);
  const full = parse(whole);
  assertEquals(full.summary.truncation, undefined);
  // cut inside generation 6's event batch: generation 6 is incomplete, generation 5 is kept
  for (const cut of [whole.length - 1, whole.length - 40, whole.length - 60]) {
    const { spans, summary } = parse(whole.subarray(0, cut));
    assert(summary.truncation, `cut at ${cut}`);
    assert(summary.truncation.bytes > 0);
    assertEquals(summary.generations, 1, `cut at ${cut}: ${summary.truncation.reason}`);
    const names = spans.map((s) => s.name).sort();
    assertEquals(names, ["inner", "outer (began earlier)", "spans generations", "task 3"]);
    assertEquals(spans.find((s) => s.name === "spans generations")!.attributes["spanprobe.incomplete"], "trace_end");
    // task 3 began before the snapshot and, with generation 6 cut off, never ends in what is left
    assertEquals(spans.find((s) => s.name === "task 3")!.attributes["spanprobe.incomplete"], "begin_and_end_missing");
  }
  // a 1.26 trace cut right before its last end-of-generation marker
  const t26 = snapshotTrace(26);
  const { summary } = parse(t26.subarray(0, t26.length - 1));
  assertEquals(summary.generations, 1);
  assert(/end-of-generation/.test(summary.truncation!.reason));
});

Deno.test("100k regions across many batches map to 100k spans with exact times", () => {
  const n = 100_000;
  const w = new GoTraceWriter(26);
  const g = w.generation(1, 15_625_000n, 0n, { dt: 0, mono: 0n, sec: 1_750_000_000n, nsec: 0n });
  const b = g.batch(1n, 0n);
  b.ev(Ev.ProcStatus, 1, 0, 1).ev(Ev.GoStatus, 1, 1, 1, 2);
  const task = 1;
  b.ev(Ev.UserTaskBegin, 1, task, 0, g.str("load"), 0);
  const names = [g.str("a"), g.str("b"), g.str("c")];
  const stack = g.stack([{ func: "main.work", file: "/src/main.go", line: 42 }, {
    func: "main.main",
    file: "/src/main.go",
    line: 10,
  }]);
  for (let i = 0; i < n; i++) {
    b.ev(Ev.UserRegionBegin, 2, task, names[i % 3], stack);
    b.ev(Ev.UserRegionEnd, 3, task, names[i % 3], stack);
  }
  b.ev(Ev.UserTaskEnd, 1, task, 0);
  g.end();
  const bytes = w.bytes();
  assert(bytes.length > 65536 * 5, "several batches");
  const { spans } = parse(bytes);
  assertEquals(spans.length, n + 1);
  const regions = spans.filter((s) => s.attributes["go.trace.kind"] === "region");
  assertEquals(regions.length, n);
  // region i begins at tick 3 + 5i + 2 and lasts 3 ticks of 64 ns
  const i = 77_777;
  assertEquals(regions[i].startNs, WALL0 + (3n + 5n * BigInt(i) + 2n) * 64n);
  assertEquals(regions[i].endNs - regions[i].startNs, 192n);
  assertEquals(regions[i].name, ["a", "b", "c"][i % 3]);
  assertEquals(regions[i].attributes["code.function.name"], "main.work");
  assertEquals(regions[i].attributes["code.stacktrace"], "main.work\n\t/src/main.go:42\nmain.main\n\t/src/main.go:10");
  const t = spans.find((s) => s.name === "load")!;
  assert(regions.every((r) => r.parentSpanId === t.spanId && r.traceId === t.traceId));
});

/** A trace of `version` with every event type that version allows at least once. */
function everyEventTrace(version: number, experimental = true): { bytes: Uint8Array; events: number } {
  const w = new GoTraceWriter(version);
  const g = w.generation(1, 1_000_000_000n, 0n, { dt: 0, mono: 0n, sec: 1n, nsec: 0n });
  const s = g.stack([{ func: "f", file: "f.go", line: 1 }]);
  const str = g.str("reason");
  const b = g.batch(1n, 0n);
  let events = 0;
  const ev = (t: number, ...args: (number | bigint)[]) => {
    assertEquals(args.length + 1, TIMED_ARGS[t].length, `arguments of ${t}`);
    b.ev(t, 1, ...args);
    events++;
  };
  ev(Ev.ProcStatus, 0, 1);
  ev(Ev.GoStatus, 1, 1, 2);
  ev(Ev.ProcsChange, 8, s);
  ev(Ev.GoCreate, 2, s, s);
  ev(Ev.GoLabel, str);
  ev(Ev.HeapAlloc, 1n << 40n);
  ev(Ev.HeapGoal, (1n << 64n) - 1n);
  ev(Ev.STWBegin, str, s);
  ev(Ev.STWEnd);
  ev(Ev.GCBegin, 1, s);
  ev(Ev.GCActive, 1);
  ev(Ev.GCSweepBegin, s);
  ev(Ev.GCSweepEnd, 4096, 1024);
  ev(Ev.GCSweepActive, 0);
  ev(Ev.GCMarkAssistBegin, s);
  ev(Ev.GCMarkAssistEnd);
  ev(Ev.GCMarkAssistActive, 1);
  ev(Ev.GCEnd, 1);
  ev(Ev.UserTaskBegin, 5, 0, str, s);
  ev(Ev.UserRegionBegin, 5, str, s);
  ev(Ev.UserLog, 5, str, str, s);
  ev(Ev.UserRegionEnd, 5, str, s);
  ev(Ev.UserTaskEnd, 5, s);
  ev(Ev.GoUnblock, 2, 1, s);
  ev(Ev.GoSyscallBegin, 1, s);
  ev(Ev.GoSyscallEnd);
  ev(Ev.GoSyscallBegin, 2, s);
  ev(Ev.GoSyscallEndBlocked);
  ev(Ev.ProcStart, 0, 3);
  ev(Ev.GoStart, 1, 2);
  ev(Ev.GoStop, str, s);
  ev(Ev.GoStart, 2, 1);
  ev(Ev.GoBlock, str, s);
  ev(Ev.GoStart, 1, 3);
  ev(Ev.GoDestroy);
  ev(Ev.ProcSteal, 0, 4, 2);
  if (version >= 23) {
    ev(Ev.GoCreateBlocked, 3, s, s);
    ev(Ev.GoStart, 3, 1);
    ev(Ev.GoSwitch, 4, 1);
    ev(Ev.GoSwitchDestroy, 3, 2);
    ev(Ev.GoStatusStack, 5, 1, 4, s);
  }
  ev(Ev.ProcStop);
  // a cgo callback on a thread without a P
  ev(Ev.GoCreateSyscall, 9);
  ev(Ev.GoDestroySyscall);
  if (version >= 23 && experimental) {
    const x = new ByteSink();
    for (let t = Ev.Span; t <= Ev.GoroutineStackFree; t++) {
      x.byte(t);
      for (let k = 0; k < TIMED_ARGS[t].length; k++) x.uvarint(k + 1);
    }
    g.writeBatch(1n, 0n, x.take(), 1);
  }
  const cpu = new ByteSink();
  cpu.byte(Ev.CPUSamples);
  cpu.byte(Ev.CPUSample);
  for (const v of [5, 1, 0, 1, s]) cpu.uvarint(v);
  g.writeBatch(NO_THREAD, 0n, cpu.take());
  g.end();
  return { bytes: w.bytes(), events };
}

Deno.test("every event type of every format version parses (and a newer event in an older format fails clearly)", () => {
  for (const version of [22, 23, 25, 26]) {
    const { bytes, events } = everyEventTrace(version);
    const { spans, summary } = parse(bytes, { goroutineStates: true });
    assertEquals(summary.version, version);
    assertEquals(summary.events, events, `go 1.${version}`);
    const kinds = new Set(spans.map((s) => s.name));
    for (const name of ["reason", "stop-the-world (reason)", "GC concurrent mark phase", "GC incremental sweep"]) {
      assert(kinds.has(name), `go 1.${version}: ${name} in ${[...kinds]}`);
    }
    const sweep = spans.find((s) => s.name === "GC incremental sweep")!;
    assertEquals([sweep.attributes["go.gc.swept_bytes"], sweep.attributes["go.gc.reclaimed_bytes"]], [4096n, 1024n]);
    const task = spans.find((s) => s.attributes["go.trace.kind"] === "task")!;
    assertEquals(task.events?.map((e) => e.name), ["go.log"]);
    const region = spans.find((s) => s.attributes["go.trace.kind"] === "region")!;
    assertEquals(region.parentSpanId, task.spanId);
  }
  const { bytes } = everyEventTrace(23, false);
  const as22 = bytes.slice();
  as22.set(headerBytes(22));
  throws(() => parse(as22), /GoCreateBlocked is not valid in an event batch of a Go 1\.22 trace/);
});

Deno.test("goroutine state changes become events on the goroutine's open region (only when asked for)", () => {
  const w = new GoTraceWriter(23);
  const g = w.generation(1, 1_000_000_000n, 0n);
  const b = g.batch(1n, 0n);
  b.ev(Ev.ProcStatus, 1, 0, 1).ev(Ev.GoStatus, 1, 4, 1, 2);
  b.ev(Ev.UserRegionBegin, 1, 0, g.str("wait for it"), 0); // t=3
  b.ev(Ev.GoBlock, 1, g.str("chan receive"), 0); // t=4: g4 waits
  b.ev(Ev.GoStart, 5, 5, 1); // t=9: another goroutine runs meanwhile (no region: no event)
  b.ev(Ev.GoUnblock, 1, 4, 2, 0); // t=10: g4 runnable
  b.ev(Ev.GoStop, 1, g.str("preempted"), 0); // t=11
  b.ev(Ev.GoStart, 1, 4, 3); // t=12: g4 running again
  b.ev(Ev.UserRegionEnd, 2, 0, g.str("wait for it"), 0); // t=14
  g.end();
  const bytes = w.bytes();
  const on = parse(bytes, { goroutineStates: true }).spans;
  assertEquals(on.length, 1);
  // the trace's last event is at tick 14 = the anchor; 1 ns a tick
  assertEquals(
    on[0].events?.map((
      e,
    ) => [e.name, e.timeNs - WALL0, e.attributes?.["go.goroutine.state"], e.attributes?.["go.goroutine.reason"]]),
    [
      ["go.goroutine.state", -10n, "waiting", "chan receive"],
      ["go.goroutine.state", -4n, "runnable", undefined],
      ["go.goroutine.state", -2n, "running", undefined],
    ],
  );
  assertEquals([on[0].startNs, on[0].endNs], [WALL0 - 11n, WALL0]);
  assertEquals(parse(bytes).spans[0].events, undefined);
});

Deno.test("headers: v1 and unknown versions are rejected naming the version; non-minimal uvarints are accepted", () => {
  const bytes = everyEventTrace(25).bytes;
  for (
    const [v, re] of [["21", /Go 1\.21 trace: the pre-1\.22 \(v1\) format/], ["24", /Go 1\.24 trace: unknown/], [
      "27",
      /Go 1\.27 trace: unknown/,
    ]] as const
  ) {
    const b = bytes.slice();
    b.set(new TextEncoder().encode(`go 1.${v}`));
    throws(() => parse(b), re);
  }
  throws(() => parse(new TextEncoder().encode("hello")), /not a Go execution trace/);
  throws(() => parse(new TextEncoder().encode("PK\x03\x04 not a trace at all")), /not a Go execution trace/);
  // generation number written as 0x81 0x80 0x00 (= 1, padded)
  const w = new ByteSink();
  w.bytes(headerBytes(22));
  w.byte(Ev.EventBatch);
  w.bytes(new Uint8Array([0x81, 0x80, 0x00]));
  w.uvarint(NO_THREAD);
  w.uvarint(0);
  w.uvarint(5);
  w.byte(Ev.Frequency);
  w.bytes(new Uint8Array([0xc0, 0x96, 0xb1, 0x02]));
  const { summary } = parse(w.take());
  assertEquals(summary.generations, 1);
});

Deno.test("malformed traces fail with a message saying what and where", () => {
  const gen = (version: number, n: number, build?: (g: ReturnType<GoTraceWriter["generation"]>) => void) => {
    const w = new GoTraceWriter(version);
    const g = w.generation(n, 1_000_000_000n, 0n, { dt: 0, mono: 0n, sec: 1n, nsec: 0n });
    g.batch(1n, 0n).ev(Ev.ProcStatus, 1, 0, 1);
    build?.(g);
    g.end();
    return w;
  };
  const cases: [string, Uint8Array, RegExp][] = [];
  {
    const w = gen(23, 1);
    const g3 = w.generation(3, 1_000_000_000n, 0n);
    g3.end();
    cases.push(["generation 3 after 1", w.bytes(), /generation 3 follows generation 1 \(out of order\)/]);
  }
  {
    const w = gen(26, 1);
    const bytes = w.bytes();
    // drop generation 1's end marker and append a generation 2
    const w2 = new GoTraceWriter(26);
    const g2 = w2.generation(2, 1_000_000_000n, 0n, { dt: 0, mono: 0n, sec: 1n, nsec: 0n });
    g2.end();
    const joined = new Uint8Array(bytes.length - 1 + w2.bytes().length - 16);
    joined.set(bytes.subarray(0, bytes.length - 1));
    joined.set(w2.bytes().subarray(16), bytes.length - 1);
    cases.push([
      "1.26 without end marker",
      joined,
      /batch of generation 2 inside generation 1 \(missing end-of-generation marker\)/,
    ]);
  }
  {
    const w = gen(25, 1, (g) => g.writeBatch(1n, 0n, new Uint8Array([Ev.GoStatusStack + 20, 0])));
    cases.push([
      "unknown event",
      w.bytes(),
      /unknown event type 68 is not valid in an event batch of a Go 1\.25 trace \(at byte \d+\)/,
    ]);
  }
  {
    const w = gen(25, 1, (g) => g.writeBatch(1n, 0n, new Uint8Array(70_000)));
    cases.push(["oversized batch", w.bytes(), /batch size 70000 exceeds the maximum 65536/]);
  }
  {
    const w = gen(25, 1, (g) => {
      g.stack([{ func: "main.f", file: "f.go", line: 1 }]);
      g.writeBatch(NO_THREAD, 0n, new Uint8Array([Ev.Strings, Ev.String, 1, 1, 0x61]));
    });
    cases.push(["string defined twice", w.bytes(), /string id 1 defined twice in generation 1/]);
  }
  {
    const w = new GoTraceWriter(25);
    w.sink.byte(Ev.EndOfGeneration);
    cases.push(["end marker in 1.25", w.bytes(), /end-of-generation marker in a Go 1\.25 trace/]);
  }
  for (const [what, bytes, re] of cases) {
    throws(() => parse(bytes), (e: unknown) => {
      assert(e instanceof GoTraceError, what);
      assert(re.test(e.message), `${what}: ${e.message}`);
      return true;
    });
  }
});

/** A tiny deterministic PRNG (xorshift32) so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

Deno.test("fuzz: 10,000 mutated traces never crash or hang; every failure is a GoTraceError", () => {
  const bases = [
    everyEventTrace(22).bytes,
    everyEventTrace(23).bytes,
    everyEventTrace(26).bytes,
    snapshotTrace(25),
    Deno.readFileSync(new URL("./fixtures/go-trace/go122-annotations.trace", import.meta.url)),
  ];
  // the generated stress trace (GC, sweeps, mark assists, tasks, regions, 8 Ms, 3 generations): every 50th mutation,
  // to keep the test short
  const stress = stressTrace().bytes;
  const rand = rng(12);
  let failures = 0;
  let parsed = 0;
  const reasons = new Map<string, number>();
  const started = performance.now();
  for (let i = 0; i < 10_000; i++) {
    const base = i % 50 === 0 ? stress : bases[i % bases.length];
    let b = base.slice();
    const op = rand();
    if (op < 0.6) {
      for (let k = 1 + Math.floor(rand() * 4); k > 0; k--) {
        b[16 + Math.floor(rand() * (b.length - 16))] ^= 1 << (rand() * 8);
      }
    } else if (op < 0.75) {
      b = b.subarray(0, Math.floor(rand() * b.length));
    } else if (op < 0.9) {
      b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    } else {
      const at = 16 + Math.floor(rand() * (b.length - 16));
      const junk = new Uint8Array(1 + Math.floor(rand() * 8)).map(() => Math.floor(rand() * 256));
      const c = new Uint8Array(b.length + junk.length);
      c.set(b.subarray(0, at));
      c.set(junk, at);
      c.set(b.subarray(at), at + junk.length);
      b = c;
    }
    try {
      parse(b, { goroutineStates: true });
      parsed++;
    } catch (e) {
      if (!(e instanceof GoTraceError)) {
        throw new Error(`mutation ${i}: not a GoTraceError: ${(e as Error).stack}`);
      }
      failures++;
      const key = e.message.replace(/\d+/g, "N").slice(0, 50);
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }
  }
  const ms = performance.now() - started;
  assertEquals(parsed + failures, 10_000);
  assert(failures > 1000, `mutations should break many files (${failures})`);
  assert(parsed > 100, `and leave some parseable (${parsed})`);
  console.log(
    `fuzz: ${parsed} parsed, ${failures} GoTraceErrors in ${ms.toFixed(0)} ms; ${reasons.size} distinct messages`,
  );
});
