/**
 * Go execution trace parser against the fixtures encoded from Go's own
 * parser test cases (../shared/fixtures/go-trace): every valid one parses,
 * the invalid one fails clearly, and times, names and nesting match what the
 * text form of each case says (decoded independently here from the text).
 */
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import {
  ATTR_CODE_FILE_PATH,
  ATTR_CODE_FUNCTION_NAME,
  ATTR_CODE_LINE_NUMBER,
  ATTR_CODE_STACKTRACE,
} from "@opentelemetry/semantic-conventions";
import { generationClock, ticksToNs } from "../lib/sources/gotrace/clock.ts";
import { readGenerations } from "../lib/sources/gotrace/generations.ts";
import { readHeader } from "../lib/sources/gotrace/header.ts";
import { GoTraceError } from "../lib/sources/gotrace/parse_error.ts";
import { parseGoTrace } from "../lib/sources/gotrace/parse_trace.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { encodeTextTrace, traceSection } from "./support/gotrace_writer.ts";

const FIXTURES = new URL("./fixtures/go-trace/", import.meta.url).pathname;
const VALID = ["go122-annotations", "go122-task-across-generations", "go123-sync", "go125-sync"];
const ANCHOR = 1_700_000_000_000_000_000n;

function fixture(name: string): Uint8Array {
  return Deno.readFileSync(`${FIXTURES}${name}.trace`);
}

function textOf(name: string): string {
  return traceSection(Deno.readTextFileSync(`${FIXTURES}text/${name}.test`));
}

function parse(bytes: Uint8Array, anchorNs = ANCHOR): { spans: SpanData[]; summary: ReturnType<typeof parseGoTrace> } {
  const spans: SpanData[] = [];
  const summary = parseGoTrace(bytes, {
    resourceAttributes: { "service.name": "fixture" },
    anchorNs,
    onSpans: (s) => spans.push(...s),
  });
  return { spans, summary };
}

/** Text-form events with absolute ticks (batch time + running sum of dt), independent of the binary parser. */
interface TextEvent {
  name: string;
  gen: number;
  tick: bigint;
  args: Record<string, bigint>;
}

function textEvents(text: string): { events: TextEvent[]; strings: Map<string, string> } {
  const events: TextEvent[] = [];
  const strings = new Map<string, string>();
  let gen = 0;
  let tick = 0n;
  const lines = text.split("\n").map((l) => l.trim());
  for (let i = 0; i < lines.length; i++) {
    const [name, ...rest] = lines[i].split(/\s+/);
    const args: Record<string, bigint> = {};
    for (const kv of rest) {
      const [k, v] = kv.split("=");
      if (v !== undefined && /^\d+$/.test(v)) args[k] = BigInt(v);
    }
    if (name === "EventBatch") {
      gen = Number(args.gen);
      tick = args.time;
    } else if (name === "String") {
      strings.set(String(args.id), JSON.parse(lines[++i].slice("data=".length)));
    } else if ("dt" in args) {
      tick += args.dt;
      events.push({ name, gen, tick, args });
    }
  }
  return { events, strings };
}

Deno.test("the test writer encodes each fixture's text form to exactly the fixture's bytes", () => {
  for (const name of [...VALID, "go122-fail-first-gen-first"]) {
    assertEquals(encodeTextTrace(textOf(name)), fixture(name), name);
  }
});

Deno.test("every valid fixture parses; the invalid one fails with a clear error", () => {
  for (const name of VALID) {
    const { summary } = parse(fixture(name));
    assert(summary.generations >= 1, name);
  }
  throws(() => parse(fixture("go122-fail-first-gen-first")), (e: unknown) => {
    assert(e instanceof GoTraceError);
    assert(/GoCreate .*expected a proc but didn't have one/.test(e.message), e.message);
    return true;
  });
});

Deno.test("go122-annotations: tasks, regions (with the unended one), logs and times match the text form", () => {
  const { spans, summary } = parse(fixture("go122-annotations"));
  assertEquals(summary.version, 22);
  assertEquals(summary.clock, "file_mtime");
  const { events, strings } = textEvents(textOf("go122-annotations"));
  const lastTick = events.reduce((m, e) => e.tick > m ? e.tick : m, 0n);
  // freq 15625000 = 64 ns a tick; the anchor is the last event
  const wall = (tick: bigint) => ANCHOR + (tick - lastTick) * 64n;
  const str = (id: bigint) => strings.get(String(id))!;
  const byName = new Map(spans.map((s) => [s.name, s]));
  const user = spans.filter((s) => s.attributes["go.trace.kind"] !== "range");
  assertEquals(user.map((s) => s.name).sort(), [
    "post-existing region",
    "region0",
    "region1",
    "task0",
    "task0 region",
    "unended region",
  ]);
  // task
  const tb = events.find((e) => e.name === "UserTaskBegin")!;
  const te = events.find((e) => e.name === "UserTaskEnd")!;
  const task = byName.get(str(tb.args.name_string))!;
  assertEquals(task.name, "task0");
  assertEquals([task.startNs, task.endNs], [wall(tb.tick), wall(te.tick)]);
  assertEquals(task.parentSpanId, undefined);
  assertEquals(task.attributes["go.task.id"], 1);
  assertEquals(task.attributes["goroutine.id"], 1);
  assertEquals(task.status.code, 0);
  // regions: begin/end pairs by name
  for (const b of events.filter((e) => e.name === "UserRegionBegin")) {
    const name = str(b.args.name_string);
    const s = byName.get(name)!;
    const end = events.find((e) => e.name === "UserRegionEnd" && e.args.name_string === b.args.name_string);
    assertEquals(s.startNs, wall(b.tick), name);
    assertEquals(s.traceId, task.traceId, name);
    assertEquals(s.attributes["go.task.id"], Number(b.args.task), name);
    if (end) {
      assertEquals(s.endNs, wall(end.tick), name);
      assertEquals(s.status.code, 0, name);
      assertEquals(s.attributes["spanprobe.incomplete"], undefined);
    } else {
      assertEquals(s.endNs, ANCHOR, `${name} ends at the trace's last timestamp`);
      assertEquals(s.status.code, 2, name);
      assertEquals(s.attributes["spanprobe.incomplete"], "trace_end", name);
    }
  }
  // literal facts of this case (testprog/annotations.go)
  assertEquals(byName.get("unended region")!.endNs, ANCHOR);
  assertEquals(byName.get("region1")!.parentSpanId, byName.get("region0")!.spanId);
  assertEquals(byName.get("region0")!.parentSpanId, byName.get("unended region")!.spanId);
  assertEquals(byName.get("unended region")!.parentSpanId, task.spanId);
  assertEquals(byName.get("task0 region")!.parentSpanId, task.spanId);
  assertEquals(byName.get("post-existing region")!.attributes["go.task.id"], 0);
  assertEquals(byName.get("post-existing region")!.parentSpanId, byName.get("task0 region")!.spanId);
  assertEquals(byName.get("region1")!.attributes["goroutine.id"], 9);
  // code attributes under the stable semantic-convention names
  const r1 = byName.get("region1")!.attributes;
  assertEquals(r1[ATTR_CODE_FUNCTION_NAME], "main.main.func1.1");
  assertEquals(r1[ATTR_CODE_LINE_NUMBER], 45);
  assertEquals(String(r1[ATTR_CODE_FILE_PATH]).endsWith("/testprog/annotations.go"), true);
  assertEquals(String(r1[ATTR_CODE_STACKTRACE]).split("\n")[0], "main.main.func1.1");
  assertEquals(byName.get("region1")!.endNs - byName.get("region1")!.startNs, (6n + 4n) * 64n);
  // the log: an event on the task's span
  const log = events.find((e) => e.name === "UserLog")!;
  assertEquals(task.events, [{
    name: "go.log",
    timeNs: wall(log.tick),
    attributes: { "go.log.category": "key0", "go.log.message": "0123456789abcdef", "goroutine.id": 9 },
  }]);
  // the stop-the-world range of StartTrace
  const stw = spans.find((s) => s.name === "stop-the-world (start trace)")!;
  const sb = events.find((e) => e.name === "STWBegin")!;
  const se = events.find((e) => e.name === "STWEnd")!;
  assertEquals([stw.startNs, stw.endNs], [wall(sb.tick), wall(se.tick)]);
  assertEquals(spans.length, 7);
  assertEquals(spans[0].resource.attributes["go.trace.clock"], "file_mtime");
});

Deno.test("go122-task-across-generations: the task keeps its name; times span both generations", () => {
  const { spans, summary } = parse(fixture("go122-task-across-generations"));
  assertEquals(summary.generations, 2);
  assertEquals(spans.length, 1);
  assertEquals(spans[0].name, "my task");
  assertEquals(spans[0].status.code, 0);
  // begin at gen 1 tick 0+1+1+1 = 3, end at gen 2 tick 5+3 = 8 (the last event): 64 ns a tick
  assertEquals(spans[0].startNs, ANCHOR - (8n - 3n) * 64n);
  assertEquals(spans[0].endNs, ANCHOR);
});

Deno.test("go123-sync: the frequency changes between generations and each generation uses its own", () => {
  const bytes = fixture("go123-sync");
  const gens = [...readGenerations(bytes, readHeader(bytes)).generations()];
  assertEquals(gens.map((g) => g.gen), [1, 2, 3]);
  assertEquals(gens.map((g) => g.freq), [1_000_000_000n, 500_000_000n, 500_000_000n]);
  assertEquals(gens.map((g) => g.clock), [undefined, undefined, undefined]);
  // the ProcStatus of gen 3 is at tick 30 + 1 = 31: 62 ns at 500 MHz; gen 1's at 15 + 1 = 16: 16 ns at 1 GHz
  assertEquals(generationClock(gens[2], 0n).traceNs(31 - Number(gens[2].minTime)), 62n);
  assertEquals(generationClock(gens[0], 0n).traceNs(16 - Number(gens[0].minTime)), 16n);
  assertEquals(ticksToNs(3n, 15_625_000n), 192n);
});

Deno.test("go125-sync: wall clock from each generation's ClockSnapshot, exact to the nanosecond", () => {
  const bytes = fixture("go125-sync");
  const { events } = textEvents(textOf("go125-sync"));
  const gens = [...readGenerations(bytes, readHeader(bytes)).generations()];
  assertEquals(gens.length, 3);
  // ClockSnapshot dt=1 after sync batch time 9 / 19 / 29; sec=1740755049+n, nsec=123
  assertEquals(gens.map((g) => g.clock), [
    { ticks: 10n, monoNs: 99n, wallNs: 1740755049_000000123n },
    { ticks: 20n, monoNs: 199n, wallNs: 1740755050_000000123n },
    { ticks: 30n, monoNs: 299n, wallNs: 1740755051_000000123n },
  ]);
  const procStatus = events.filter((e) => e.name === "ProcStatus");
  // gen 1: tick 16 at 1 GHz, 6 ticks after the snapshot; gen 3: tick 41 at 500 MHz, 11 ticks = 22 ns after
  assertEquals(procStatus.map((e) => e.tick), [16n, 41n]);
  assertEquals(generationClock(gens[0], 0n).wall(16 - Number(gens[0].minTime)), 1740755049_000000129n);
  assertEquals(generationClock(gens[2], 0n).wall(41 - Number(gens[2].minTime)), 1740755051_000000145n);
  const { summary } = parse(bytes, 0n);
  assertEquals(summary.clock, "clock_snapshot");
});
