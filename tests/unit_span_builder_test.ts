/**
 * The span builder, driven by specs parsed from YAML: pairing by key (also out
 * of order and nested), orphans, TTL and overflow eviction, shutdown, complete
 * spans, errors, status rules, attributes and exact clock arithmetic.
 */
import { deepStrictEqual, match, notStrictEqual, ok, strictEqual } from "node:assert/strict";
import { parseProbeSpec, type ProbeSpec } from "../lib/config/probe_spec.ts";
import { createClockOffsets, offsetFromEpochText } from "../lib/core/clock.ts";
import { createSpanBuilder, type IncompleteReason } from "../lib/spans/span_builder.ts";
import { spanBuilderStream } from "../lib/spans/span_builder_stream.ts";
import { type Resource, type SpanData, SpanKind, StatusCode } from "../lib/core/span_data.ts";
import type { FieldValue } from "../lib/core/fields.ts";
import type { ProbeEvent } from "../lib/streams/probe_events.ts";

const S = 1_000_000_000n; // one second in ns
const BASE = 1_795_313_354_000_000_000n; // a wall-clock time in 2026, ns

const PAIRED = `
events:
  req_start:
    pid: int
    id: string
    t: realtime_ns
    path: string
  req_end:
    pid: int
    id: string
    t: realtime_ns
    status: int
  req_error:
    pid: int
    id: string
    why: string
spans:
  - name: "GET {path}"
    kind: server
    key: [pid, id]
    start: {event: req_start, time: t}
    end: {event: req_end, time: t}
    errors:
      - event: req_error
        message: "failed: {why}"
    error_when:
      - field: status
        op: ">="
        value: 500
    attributes:
      http.path: path
      http.status: status
      label: "{pid}/{id}"
      version: 7
      sampled: true
    ttl: 10s
    max_open: 3
`;

const COMPLETE = `
events:
  query:
    pid: int
    sql: string
    took: duration_ns
    at: realtime_ns
  io:
    pid: int
    t0: boottime_ns
    t1: boottime_ns
    bytes: int
  mark:
    pid: int
    label: string
spans:
  - name: "{sql}"
    kind: client
    complete: {event: query, start: at, duration: took}
    attributes:
      db.statement: sql
  - name: io
    complete: {event: io, start: t0, end: t1}
    attributes:
      io.bytes: bytes
  - name: "mark {label}"
    complete: {event: mark}
`;

function harness(yaml: string, options: { reorderWindowNs?: bigint } = {}) {
  const spec: ProbeSpec = parseProbeSpec("test.yaml", yaml);
  const clocks = createClockOffsets();
  let nowNs = BASE;
  const incomplete: [IncompleteReason, string][] = [];
  const orphans: string[] = [];
  const resources = new Map<string, Resource>();
  let started = 0;
  const builder = createSpanBuilder({
    spec,
    clocks,
    now: () => nowNs,
    reorderWindowNs: options.reorderWindowNs,
    resourceFor: (get) => {
      const pid = String(get("pid"));
      if (!resources.has(pid)) resources.set(pid, { attributes: { "process.pid": pid } });
      return resources.get(pid)!;
    },
    onSpanStarted: () => started++,
    onIncomplete: (reason, span) => incomplete.push([reason, span.name]),
    onOrphan: (event) => orphans.push(event),
  });
  /** A probe event of `name`, values given by field name (all fields required). */
  const ev = (name: string, fields: Record<string, FieldValue>, arrivalNs = nowNs): ProbeEvent => {
    const es = spec.events.get(name);
    if (!es) throw new Error(`test bug: no event ${name}`);
    const extra = Object.keys(fields).filter((k) => !es.fields.some((f) => f.name === k));
    if (extra.length) throw new Error(`test bug: ${name} has no ${extra}`);
    return {
      spec: es,
      values: es.fields.map((f) => {
        if (!(f.name in fields)) throw new Error(`test bug: ${name}.${f.name} missing`);
        return fields[f.name];
      }),
      arrivalNs,
    };
  };
  return {
    spec,
    clocks,
    builder,
    ev,
    incomplete,
    orphans,
    started: () => started,
    setNow: (ns: bigint) => (nowNs = ns),
  };
}

/** Request events of PAIRED: start at `t`, end at `t`, by pid and id. */
function reqEvents(h: ReturnType<typeof harness>) {
  return {
    start: (id: string, t: bigint, path = `/${id}`, pid = 42n) => h.ev("req_start", { pid, id, t, path }),
    end: (id: string, t: bigint, status = 200n, pid = 42n) => h.ev("req_end", { pid, id, t, status }),
    error: (id: string, why: string, pid = 42n) => h.ev("req_error", { pid, id, why }),
  };
}

function times(spans: SpanData[]): [string, bigint, bigint][] {
  return spans.map((s) => [s.name, s.startNs - BASE, s.endNs - BASE]);
}

Deno.test("span builder: start and end by key make one span with their times, attributes and resource", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  deepStrictEqual(h.builder.add([r.start("a", BASE + 100n, "/items")]), []);
  strictEqual(h.builder.openCount(), 1);
  const spans = h.builder.add([r.end("a", BASE + 350n, 201n)]);
  strictEqual(spans.length, 1);
  const s = spans[0];
  strictEqual(s.name, "GET /items");
  strictEqual(s.kind, SpanKind.SERVER);
  strictEqual(s.startNs, BASE + 100n);
  strictEqual(s.endNs, BASE + 350n);
  deepStrictEqual(s.status, { code: StatusCode.UNSET });
  deepStrictEqual(s.attributes, {
    "http.path": "/items",
    "http.status": 201n,
    label: "42/a",
    version: 7,
    sampled: true,
  });
  deepStrictEqual(s.resource.attributes, { "process.pid": "42" });
  match(s.traceId, /^[0-9a-f]{32}$/);
  match(s.spanId, /^[0-9a-f]{16}$/);
  ok(!/^0+$/.test(s.traceId) && !/^0+$/.test(s.spanId));
  strictEqual(s.events, undefined);
  strictEqual(h.builder.openCount(), 0);
  strictEqual(h.started(), 1);
  deepStrictEqual(h.orphans, []);
});

Deno.test("span builder: a span open past a sweep keeps working after its strings are made its own", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  // key and field strings sliced from a big text, as the tuple scanner makes them
  const big = "x".repeat(70_000) + "request-id-0123456789/long/path/segment";
  const id = big.slice(70_000, 70_021);
  const path = big.slice(70_021);
  h.builder.add([r.start(id, BASE + 100n, path), r.start("other", BASE + 100n)]);
  h.setNow(BASE + 1_500_000_000n); // > 1 s open; well within the TTL
  deepStrictEqual(h.builder.sweep(), []);
  h.setNow(BASE + 2_000_000_000n);
  const spans = h.builder.add([r.end("request-id-0123456789", BASE + 200n), r.end("other", BASE + 300n)]);
  deepStrictEqual(spans.map((s) => s.attributes["http.path"]), ["/long/path/segment", "/other"]);
  strictEqual(h.builder.openCount(), 0);
  deepStrictEqual(h.orphans, []);
});

Deno.test("span builder: spans of the same pid share one resource object", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const spans = h.builder.add([
    r.start("a", BASE),
    r.start("b", BASE),
    r.start("c", BASE, "/c", 7n),
    r.end("a", BASE + 1n),
    r.end("b", BASE + 1n),
    r.end("c", BASE + 1n, 200n, 7n),
  ]);
  strictEqual(spans[0].resource, spans[1].resource);
  notStrictEqual(spans[0].resource, spans[2].resource);
  deepStrictEqual(spans[2].resource.attributes, { "process.pid": "7" });
});

Deno.test("span builder: the same key reused after its end starts a new span", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const spans = h.builder.add([
    r.start("k", BASE + 10n, "/one"),
    r.end("k", BASE + 20n),
    r.start("k", BASE + 30n, "/two"),
    r.end("k", BASE + 45n),
  ]);
  deepStrictEqual(times(spans), [["GET /one", 10n, 20n], ["GET /two", 30n, 45n]]);
  notStrictEqual(spans[0].spanId, spans[1].spanId);
  notStrictEqual(spans[0].traceId, spans[1].traceId);
});

Deno.test("span builder: concurrent keys pair by key, not by arrival order", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const spans = h.builder.add([
    r.start("a", BASE + 1n),
    r.start("b", BASE + 2n),
    r.start("a", BASE + 3n, "/a-pid9", 9n), // same id, other pid: another key
    r.end("b", BASE + 20n),
    r.end("a", BASE + 30n, 200n, 9n),
    r.end("a", BASE + 40n),
  ]);
  deepStrictEqual(times(spans), [["GET /b", 2n, 20n], ["GET /a-pid9", 3n, 30n], ["GET /a", 1n, 40n]]);
  strictEqual(h.builder.openCount(), 0);
});

Deno.test("span builder: an end arriving before its start still pairs, and is no orphan", () => {
  const h = harness(PAIRED, { reorderWindowNs: 2n * S });
  const r = reqEvents(h);
  deepStrictEqual(h.builder.add([r.end("x", BASE + 500n, 503n)]), []);
  strictEqual(h.builder.openCount(), 0);
  const spans = h.builder.add([r.start("x", BASE + 100n, "/late")]);
  deepStrictEqual(times(spans), [["GET /late", 100n, 500n]]);
  strictEqual(spans[0].status.code, StatusCode.ERROR); // status from the end event's field
  strictEqual(spans[0].attributes["http.path"], "/late");
  strictEqual(h.builder.openCount(), 0);
  h.setNow(BASE + 10n * S);
  deepStrictEqual(h.builder.sweep(), []);
  deepStrictEqual(h.orphans, []);
});

Deno.test("span builder: nested starts with the same key end innermost first (LIFO)", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const spans = h.builder.add([
    r.start("n", BASE + 100n, "/outer"),
    r.start("n", BASE + 200n, "/inner"),
    r.end("n", BASE + 300n),
  ]);
  deepStrictEqual(times(spans), [["GET /inner", 200n, 300n]]);
  strictEqual(h.builder.openCount(), 1);
  deepStrictEqual(times(h.builder.add([r.end("n", BASE + 400n)])), [["GET /outer", 100n, 400n]]);
});

Deno.test("span builder: an end without start is an orphan only after the reorder window", () => {
  const h = harness(PAIRED, { reorderWindowNs: 2n * S });
  const r = reqEvents(h);
  const arrival = BASE + 5n * S;
  h.builder.add([r.end("lost", BASE, 200n, 42n)].map((e) => ({ ...e, arrivalNs: arrival })));
  h.setNow(arrival + 2n * S - 1n);
  deepStrictEqual(h.builder.sweep(), []);
  deepStrictEqual(h.orphans, [], "still inside the window");
  h.setNow(arrival + 2n * S);
  deepStrictEqual(h.builder.sweep(), []);
  deepStrictEqual(h.orphans, ["req_end"]);
  h.builder.sweep();
  deepStrictEqual(h.orphans, ["req_end"], "counted once");
  // a later start with that key is not paired with the expired end
  deepStrictEqual(h.builder.add([r.start("lost", BASE + 9n * S)]), []);
  strictEqual(h.builder.openCount(), 1);
});

Deno.test("span builder: the default reorder window is 5 s", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  h.builder.add([r.end("o", BASE)]); // arrives at BASE
  h.setNow(BASE + 5n * S - 1n);
  h.builder.sweep();
  deepStrictEqual(h.orphans, []);
  h.setNow(BASE + 5n * S);
  h.builder.sweep();
  deepStrictEqual(h.orphans, ["req_end"]);
});

Deno.test("span builder: TTL eviction ends an open span with ERROR and spanprobe.incomplete=ttl", () => {
  const h = harness(PAIRED); // ttl: 10s
  const r = reqEvents(h);
  h.builder.add(
    [r.start("slow", BASE + 7n, "/slow"), r.start("fast", BASE + 8n)].map((e) => ({ ...e, arrivalNs: BASE })),
  );
  h.builder.add([{ ...r.start("young", BASE + 9n), arrivalNs: BASE + 3n * S }]);
  h.builder.add([r.end("fast", BASE + 20n)]);
  h.setNow(BASE + 10n * S - 1n);
  deepStrictEqual(h.builder.sweep(), []);
  h.setNow(BASE + 10n * S);
  const evicted = h.builder.sweep();
  deepStrictEqual(times(evicted), [["GET /slow", 7n, 10n * S]]); // ends now
  const s = evicted[0];
  strictEqual(s.status.code, StatusCode.ERROR);
  match(s.status.message ?? "", /10000 ms/);
  strictEqual(s.attributes["spanprobe.incomplete"], "ttl");
  strictEqual(s.attributes["http.path"], "/slow");
  ok(!("http.status" in s.attributes), "no end event: no end fields");
  deepStrictEqual(h.incomplete, [["ttl", "GET /slow"]]);
  strictEqual(h.builder.openCount(), 1, "the younger span stays open");
  // an end for the evicted span is now an end without start
  deepStrictEqual(h.builder.add([r.end("slow", BASE + 10n * S)]), []);
  h.setNow(BASE + 20n * S);
  const late = h.builder.sweep();
  deepStrictEqual(times(late), [["GET /young", 9n, 20n * S]]);
  deepStrictEqual(h.orphans, ["req_end"]);
});

Deno.test("span builder: open-table overflow evicts the oldest open span", () => {
  const h = harness(PAIRED); // max_open: 3
  const r = reqEvents(h);
  deepStrictEqual(h.builder.add([r.start("k1", BASE + 1n), r.start("k2", BASE + 2n), r.start("k3", BASE + 3n)]), []);
  h.setNow(BASE + 50n);
  const evicted = h.builder.add([r.start("k4", BASE + 4n)]);
  deepStrictEqual(times(evicted), [["GET /k1", 1n, 50n]]);
  strictEqual(evicted[0].attributes["spanprobe.incomplete"], "overflow");
  strictEqual(evicted[0].status.code, StatusCode.ERROR);
  match(evicted[0].status.message ?? "", /\(3\)/);
  deepStrictEqual(h.incomplete, [["overflow", "GET /k1"]]);
  strictEqual(h.builder.openCount(), 3);
  // after k2 ends there is room: no eviction
  deepStrictEqual(times(h.builder.add([r.end("k2", BASE + 60n)])), [["GET /k2", 2n, 60n]]);
  deepStrictEqual(h.builder.add([r.start("k5", BASE + 5n)]), []);
  // the next overflow evicts k3 (k2 is closed, k1 gone)
  deepStrictEqual(times(h.builder.add([r.start("k6", BASE + 6n)])), [["GET /k3", 3n, 50n]]);
});

Deno.test("span builder: drain() ends every open span with reason shutdown", () => {
  const h = harness(PAIRED, { reorderWindowNs: 60n * S });
  const r = reqEvents(h);
  h.builder.add([r.start("a", BASE + 1n), r.start("b", BASE + 2n), r.end("nobody", BASE + 3n)]);
  h.setNow(BASE + 99n);
  const drained = h.builder.drain();
  deepStrictEqual(times(drained), [["GET /a", 1n, 99n], ["GET /b", 2n, 99n]]);
  for (const s of drained) {
    strictEqual(s.attributes["spanprobe.incomplete"], "shutdown");
    strictEqual(s.status.code, StatusCode.ERROR);
  }
  deepStrictEqual(h.incomplete, [["shutdown", "GET /a"], ["shutdown", "GET /b"]]);
  deepStrictEqual(h.orphans, ["req_end"], "pending ends are orphans at shutdown");
  strictEqual(h.builder.openCount(), 0);
  deepStrictEqual(h.builder.drain(), []);
});

Deno.test("span builder: an error event marks the open span (status, message, exception event)", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  h.builder.add([r.start("e", BASE + 1n), r.start("other", BASE + 1n)]);
  const errAt = BASE + 77n;
  deepStrictEqual(h.builder.add([{ ...r.error("e", "disk full"), arrivalNs: errAt }]), []);
  const [s] = h.builder.add([r.end("e", BASE + 100n, 200n)]);
  deepStrictEqual(s.status, { code: StatusCode.ERROR, message: "failed: disk full" });
  deepStrictEqual(s.events, [{
    name: "exception",
    timeNs: errAt,
    attributes: { "exception.message": "failed: disk full", "spanprobe.event": "req_error" },
  }]);
  // the other span is untouched
  const [o] = h.builder.add([r.end("other", BASE + 100n)]);
  deepStrictEqual(o.status, { code: StatusCode.UNSET });
  strictEqual(o.events, undefined);
});

Deno.test("span builder: the error message wins over error_when", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const [s] = h.builder.add([r.start("e", BASE), r.error("e", "boom"), r.end("e", BASE + 1n, 500n)]);
  deepStrictEqual(s.status, { code: StatusCode.ERROR, message: "failed: boom" });
});

Deno.test("span builder: an error event with no open span waits for its start, then is an orphan", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  deepStrictEqual(h.builder.add([r.error("nope", "x")]), []);
  deepStrictEqual(h.orphans, [], "not yet: its start may still arrive");
  h.setNow(BASE + 4n * S);
  h.builder.sweep();
  deepStrictEqual(h.orphans, [], "within the 5 s reorder window");
  h.setNow(BASE + 5n * S);
  h.builder.sweep();
  deepStrictEqual(h.orphans, ["req_error"]);
});

Deno.test("span builder: an error event arriving before its start (per-CPU reordering) still marks the span", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const [s] = h.builder.add([r.error("e", "early"), r.start("e", BASE), r.end("e", BASE + 1n, 200n)]);
  deepStrictEqual(s.status, { code: StatusCode.ERROR, message: "failed: early" });
  strictEqual(s.events?.length, 1);
  h.setNow(BASE + 10n * S);
  h.builder.sweep();
  deepStrictEqual(h.orphans, [], "the early error was used, not orphaned");
});

Deno.test("span builder: an error event marks a span evicted later (ttl keeps the error event)", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  h.builder.add([r.start("e", BASE + 1n), r.error("e", "stuck")]);
  h.setNow(BASE + 11n * S);
  const [s] = h.builder.sweep();
  strictEqual(s.attributes["spanprobe.incomplete"], "ttl");
  strictEqual(s.status.code, StatusCode.ERROR);
  strictEqual(s.events?.length, 1);
  strictEqual(s.events![0].attributes!["exception.message"], "failed: stuck");
});

Deno.test("span builder: error_when sets ERROR status by the end event's field", () => {
  const cases: [bigint, { code: number; message?: string }][] = [
    [200n, { code: StatusCode.UNSET }],
    [499n, { code: StatusCode.UNSET }],
    [500n, { code: StatusCode.ERROR, message: "status=500" }],
    [503n, { code: StatusCode.ERROR, message: "status=503" }],
  ];
  for (const [status, want] of cases) {
    const h = harness(PAIRED);
    const r = reqEvents(h);
    const [s] = h.builder.add([r.start("s", BASE), r.end("s", BASE + 1n, status)]);
    deepStrictEqual(s.status, want, `status ${status}`);
  }
});

Deno.test("span builder: error_when operators against int, string and bool fields", () => {
  const yaml = (op: string, value: string, field = "code") => `
events:
  e:
    code: int
    who: string
    flag: bool
spans:
  - name: s
    complete: {event: e}
    error_when:
      - field: ${field}
        op: "${op}"
        value: ${value}
`;
  const cases: [string, string, string, FieldValue, boolean][] = [
    [">", "10", "code", 11n, true],
    [">", "10", "code", 10n, false],
    ["<", "0", "code", -1n, true],
    ["<=", "-1", "code", -1n, true],
    ["==", "7", "code", 7n, true],
    ["!=", "7", "code", 7n, false],
    ["==", '"bob"', "who", "bob", true],
    ["==", '"bob"', "who", "alice", false],
    ["!=", '"bob"', "who", "alice", true],
    ["==", "true", "flag", true, true],
    ["==", "true", "flag", false, false],
    ["!=", "true", "flag", false, true],
    [">", "2.5", "code", 3n, true],
    [">", "2.5", "code", 2n, false],
  ];
  for (const [op, value, field, v, isError] of cases) {
    const h = harness(yaml(op, value, field));
    const fields: Record<string, FieldValue> = { code: 0n, who: "", flag: false, [field]: v };
    const [s] = h.builder.add([h.ev("e", fields, BASE)]);
    strictEqual(s.status.code, isError ? StatusCode.ERROR : StatusCode.UNSET, `${field} ${v} ${op} ${value}`);
  }
});

Deno.test("span builder: complete span from a realtime start + duration is exact", () => {
  const h = harness(COMPLETE);
  const at = 1795313354907507123n; // beyond 2^53: a double would round it
  const took = 987654321n;
  const [s] = h.builder.add([h.ev("query", { pid: 5n, sql: "SELECT 1", took, at })]);
  strictEqual(s.name, "SELECT 1");
  strictEqual(s.kind, SpanKind.CLIENT);
  strictEqual(s.startNs, 1795313354907507123n);
  strictEqual(s.endNs, 1795313355895161444n);
  strictEqual(s.endNs - s.startNs, 987654321n);
  deepStrictEqual(s.attributes, { "db.statement": "SELECT 1" });
  strictEqual(h.builder.openCount(), 0);
});

Deno.test("span builder: boottime fields become wall clock with the calibrated offset, exactly", () => {
  const h = harness(COMPLETE);
  // bpftrace's calibration: nsecs = 158474033111 at epoch 1795313354.907507
  const offset = offsetFromEpochText(158474033111n, "1795313354.907507");
  strictEqual(offset, 1795313196433473889n);
  h.clocks.set("boottime", offset);
  const [s] = h.builder.add([h.ev("io", { pid: 1n, t0: 158474033111n, t1: 158474035611n, bytes: 4096n })]);
  strictEqual(s.name, "io");
  strictEqual(s.startNs, 1795313354907507000n, "the calibration instant itself");
  strictEqual(s.endNs, 1795313354907509500n);
  deepStrictEqual(s.attributes, { "io.bytes": 4096n });
  // a new calibration (clock step) applies to later events
  h.clocks.set("boottime", offset + 1000n);
  const [s2] = h.builder.add([h.ev("io", { pid: 1n, t0: 158474033111n, t1: 158474033112n, bytes: 0n })]);
  strictEqual(s2.startNs, 1795313354907508000n);
});

Deno.test("span builder: an instant complete span uses the arrival time", () => {
  const h = harness(COMPLETE);
  const [s] = h.builder.add([h.ev("mark", { pid: 1n, label: "gc" }, BASE + 123n)]);
  strictEqual(s.name, "mark gc");
  strictEqual(s.startNs, BASE + 123n);
  strictEqual(s.endNs, BASE + 123n);
  strictEqual(s.kind, SpanKind.INTERNAL);
});

Deno.test("span builder: an end before the start is clamped to a zero-length span", () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const [s] = h.builder.add([r.start("c", BASE + 500n), r.end("c", BASE + 100n)]);
  strictEqual(s.startNs, BASE + 500n);
  strictEqual(s.endNs, BASE + 500n);
});

Deno.test("span builder: the bundled spec's end carries the start time and duration", async () => {
  const path = new URL("../probes/usdt-requests.yaml", import.meta.url).pathname;
  const h = harness(await Deno.readTextFile(path));
  const start = 1795313354907507123n;
  const common = { pid: 300n, tid: 301n, reqid: "req-9" };
  // the start event's own time is a bit off: the end's start_ns wins
  const spans = h.builder.add([
    h.ev("request_start", { ...common, start_ns: start + 5n }),
    h.ev("request_error", { ...common, message: 'upstream "timeout"', at_ns: 1795313354908000000n }),
    h.ev("request_end", { ...common, start_ns: start, duration_ns: 2_500_000n, status: 504n }),
  ]);
  strictEqual(spans.length, 1);
  const s = spans[0];
  strictEqual(s.name, "request");
  strictEqual(s.startNs, 1795313354907507123n);
  strictEqual(s.endNs, 1795313354910007123n);
  deepStrictEqual(s.status, { code: StatusCode.ERROR, message: 'upstream "timeout"' });
  deepStrictEqual(s.attributes, {
    "request.id": "req-9",
    "thread.id": 301n,
    "http.response.status_code": 504n,
  });
  strictEqual(s.events?.[0].name, "exception");
  strictEqual(s.events?.[0].timeNs, 1795313354908000000n);
});

Deno.test("span builder: a boottime span before calibration fails loudly, not silently wrong", () => {
  const h = harness(COMPLETE);
  let err: unknown;
  try {
    h.builder.add([h.ev("io", { pid: 1n, t0: 1n, t1: 2n, bytes: 0n })]);
  } catch (e) {
    err = e;
  }
  ok(err instanceof Error);
  match(err.message, /boottime/);
});

Deno.test("spanBuilderStream: spans out per batch; open spans ended at the end of input", async () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  const batches: ProbeEvent[][] = [[r.start("a", BASE + 1n), r.start("b", BASE + 2n)], [r.end("a", BASE + 5n)]];
  const out: SpanData[][] = [];
  for await (const b of ReadableStream.from(batches).pipeThrough(spanBuilderStream(h.builder))) out.push(b);
  deepStrictEqual(out.map((b) => b.map((s) => [s.name, s.attributes["spanprobe.incomplete"]])), [
    [["GET /a", undefined]],
    [["GET /b", "shutdown"]],
  ]);
});

Deno.test("spanBuilderStream: atEnd drop discards open spans and counts them", async () => {
  const h = harness(PAIRED);
  const r = reqEvents(h);
  let dropped = -1;
  const out: SpanData[][] = [];
  const stream = ReadableStream.from([[r.start("a", BASE), r.start("b", BASE)]]).pipeThrough(
    spanBuilderStream(h.builder, { atEnd: "drop", onDropOpen: (n) => (dropped = n) }),
  );
  for await (const b of stream) out.push(b);
  deepStrictEqual(out, []);
  strictEqual(dropped, 2);
  strictEqual(h.builder.openCount(), 0);
});

Deno.test("spanBuilderStream: the periodic sweep evicts expired spans while no events arrive", async () => {
  const h = harness(PAIRED); // ttl 10s
  const r = reqEvents(h);
  const input = new TransformStream<ProbeEvent[], ProbeEvent[]>();
  const reader = input.readable.pipeThrough(spanBuilderStream(h.builder, { sweepIntervalMs: 5 })).getReader();
  const writer = input.writable.getWriter();
  await writer.write([r.start("idle", BASE + 1n)]);
  h.setNow(BASE + 11n * S); // the span is now past its TTL
  const first = await reader.read(); // produced by the timer, not by input
  deepStrictEqual(first.value?.map((s) => [s.name, s.attributes["spanprobe.incomplete"]]), [["GET /idle", "ttl"]]);
  await writer.close();
  deepStrictEqual(await reader.read(), { done: true, value: undefined });
});
