/**
 * Every v2 parser test case of Go (golang/exp `trace/testdata/tests`, kept in
 * tests/fixtures/go-trace/go-tests): spanprobe's parser reaches Go's verdict
 * on each, SUCCESS or FAILURE with Go's message, and the real recorded traces
 * among them map to spans by the documented rules.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { SpanData } from "../lib/core/span_data.ts";
import { GoTraceError } from "../lib/sources/gotrace/parse_error.ts";
import { parseGoTrace } from "../lib/sources/gotrace/parse_trace.ts";
import { encodeTextTrace, traceSection } from "./support/gotrace_writer.ts";

const DIR = new URL("./fixtures/go-trace/go-tests/", import.meta.url).pathname;

function cases(): { name: string; expect: string; bytes: Uint8Array }[] {
  return [...Deno.readDirSync(DIR)]
    .filter((e) => e.name.endsWith(".test"))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const text = Deno.readTextFileSync(`${DIR}${name}`);
      const expect = text.slice(text.indexOf("-- expect --") + 12, text.indexOf("-- trace --")).trim();
      return { name, expect, bytes: encodeTextTrace(traceSection(text)) };
    });
}

function parse(bytes: Uint8Array): SpanData[] {
  const spans: SpanData[] = [];
  parseGoTrace(bytes, { resourceAttributes: {}, anchorNs: 0n, onSpans: (s) => spans.push(...s) });
  return spans;
}

Deno.test("Go's 22 parser test cases: the same verdict as Go's parser", () => {
  const all = cases();
  assertEquals(all.length, 22);
  for (const c of all) {
    if (c.expect === "SUCCESS") {
      parse(c.bytes);
      continue;
    }
    const m = /^FAILURE "(.*)"$/.exec(c.expect);
    assert(m, `${c.name}: ${c.expect}`);
    let error: unknown;
    try {
      parse(c.bytes);
    } catch (e) {
      error = e;
    }
    assert(error instanceof GoTraceError, `${c.name}: expected a failure matching ${m[1]}`);
    assert(new RegExp(m[1]).test(error.message), `${c.name}: ${error.message} does not match ${m[1]}`);
  }
});

Deno.test("go122-gc-stress (a real trace starting at generation 3): GC, sweep and mark assist ranges by the rules", () => {
  const c = cases().find((x) => x.name === "go122-gc-stress.test")!;
  const text = Deno.readTextFileSync(`${DIR}${c.name}`);
  const count = (ev: string) => text.split("\n").filter((l) => l.startsWith(`${ev} `)).length;
  const spans = parse(c.bytes);
  const by = (name: string, why?: string) =>
    spans.filter((s) => s.name === name && s.attributes["spanprobe.incomplete"] === why).length;
  // the GC was running when the trace started (GCActive) and ended inside it: one span, begin missing
  assertEquals(by("GC concurrent mark phase", "begin_missing"), 1);
  assertEquals(spans.filter((s) => s.name === "GC concurrent mark phase").length, 1);
  // every sweep end closes a sweep; the rest were still sweeping at the end
  assertEquals(by("GC incremental sweep"), count("GCSweepEnd"));
  assertEquals(by("GC incremental sweep", "trace_end"), count("GCSweepBegin") - count("GCSweepEnd"));
  // mark assists: active at the start (begin missing) or begun; ended or still open at the end
  assertEquals(by("GC mark assist", "begin_missing"), count("GCMarkAssistActive"));
  assertEquals(
    by("GC mark assist") + by("GC mark assist", "begin_missing") + by("GC mark assist", "trace_end"),
    count("GCMarkAssistBegin") + count("GCMarkAssistActive"),
  );
  assertEquals(by("stop-the-world (GC mark termination)"), 1);
});

Deno.test("go122-annotations-stress (a real trace): every begin and end of a task or region and every log accounted for", () => {
  const c = cases().find((x) => x.name === "go122-annotations-stress.test")!;
  const text = Deno.readTextFileSync(`${DIR}${c.name}`);
  const count = (ev: string) => text.split("\n").filter((l) => l.startsWith(`${ev} `)).length;
  const spans = parse(c.bytes);
  const of = (kind: string, ...why: (string | undefined)[]) =>
    spans.filter((s) =>
      s.attributes["go.trace.kind"] === kind && why.includes(s.attributes["spanprobe.incomplete"] as string)
    )
      .length;
  assert(count("UserRegionBegin") > 20 && count("UserTaskBegin") > 5, "a trace with annotations");
  // every end closes one span (begun in the trace, or before it); every begin opens one (ended in it, or still open)
  assertEquals(of("region", undefined, "begin_missing"), count("UserRegionEnd"));
  assertEquals(of("region", undefined, "trace_end", "enclosing_region_ended"), count("UserRegionBegin"));
  assertEquals(of("task", undefined, "begin_missing"), count("UserTaskEnd"));
  assertEquals(of("task", undefined, "trace_end"), count("UserTaskBegin"));
  const logs = spans.flatMap((s) => s.events ?? []).filter((e) => e.name === "go.log").length;
  assertEquals(logs, count("UserLog"));
});
