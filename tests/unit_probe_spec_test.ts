/**
 * Probe specs: the bundled spec loads with the right shape, and each mistake
 * is a UserError (exit 2) naming the file and the line of the mistake.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { loadProbeSpec, parseDuration, parseProbeSpec } from "../lib/config/probe_spec.ts";
import { UserError } from "../lib/core/errors.ts";
import { SpanKind } from "../lib/core/span_data.ts";

const BUNDLED = new URL("../probes/usdt-requests.yaml", import.meta.url).pathname;

Deno.test("parseProbeSpec: the bundled usdt-requests spec", async () => {
  const spec = await loadProbeSpec(BUNDLED);
  strictEqual(spec.name, "usdt-requests");
  strictEqual(spec.scriptPath, BUNDLED.replace(/\.yaml$/, ".bt"));
  ok(spec.description.includes("request_start"));
  deepStrictEqual(spec.params.map((p) => [p.name, p.type, p.required, p.default]), [
    ["binary", "path", true, undefined],
    ["provider", "identifier", false, "spanprobe_demo"],
  ]);
  deepStrictEqual([...spec.events.keys()], ["request_start", "request_end", "request_error"]);
  deepStrictEqual(spec.events.get("request_start")!.fields, [
    { name: "pid", type: "int" },
    { name: "tid", type: "int" },
    { name: "reqid", type: "string" },
    { name: "start_ns", type: "realtime_ns" },
  ]);
  deepStrictEqual(spec.events.get("request_end")!.fields.map((f) => `${f.name}:${f.type}`), [
    "pid:int",
    "tid:int",
    "reqid:string",
    "start_ns:realtime_ns",
    "duration_ns:duration_ns",
    "status:int",
  ]);
  strictEqual(spec.spans.length, 1);
  const s = spec.spans[0];
  strictEqual(s.name.render(() => "x"), "request");
  strictEqual(s.kind, SpanKind.SERVER);
  deepStrictEqual(s.key, ["pid", "reqid"]);
  deepStrictEqual(s.start, { event: "request_start", time: { field: "start_ns" } });
  deepStrictEqual(s.end, { event: "request_end", time: undefined, start: "start_ns", duration: "duration_ns" });
  strictEqual(s.complete, undefined);
  strictEqual(s.errors.length, 1);
  strictEqual(s.errors[0].event, "request_error");
  deepStrictEqual(s.errors[0].message!.fields, ["message"]);
  strictEqual(s.errors[0].message!.render((f) => f === "message" ? "disk full" : "?"), "disk full");
  deepStrictEqual(s.errorWhen, [{ field: "status", op: ">=", value: 500 }]);
  deepStrictEqual(s.attributes, [
    ["request.id", { field: "reqid" }],
    ["thread.id", { field: "tid" }],
    ["http.response.status_code", { field: "status" }],
  ]);
  strictEqual(s.ttlNs, 60n * 1_000_000_000n);
  strictEqual(s.maxOpen, 100_000);
});

Deno.test("parseDuration: units and rejects", () => {
  const cases: [string, bigint | undefined][] = [
    ["30s", 30_000_000_000n],
    ["500ms", 500_000_000n],
    ["5m", 300_000_000_000n],
    ["1h", 3_600_000_000_000n],
    ["250us", 250_000n],
    ["7ns", 7n],
    [" 2s ", 2_000_000_000n],
    ["1.5s", undefined],
    ["10", undefined],
    ["10 minutes", undefined],
    ["-1s", undefined],
    ["s", undefined],
  ];
  for (const [text, want] of cases) strictEqual(parseDuration(text), want, text);
});

/** A valid spec; each mistake below changes one thing in it. */
const GOOD = `# a test spec
name: shop
description: checkout requests
script: shop.bt
service: shop-svc
params:
  binary:
    type: path
    required: true
  limit:
    type: int
    default: 10
events:
  begin:
    pid: int
    tid: int
    reqid: string
    t0: boottime_ns
  finish:
    pid: int
    reqid: string
    t1: boottime_ns
    code: int
  failed:
    pid: int
    reqid: string
    why: string
  query:
    pid: int
    sql: string
    took: duration_ns
    at: realtime_ns
spans:
  - name: "checkout {reqid}"
    kind: server
    key: [pid, reqid]
    start:
      event: begin
      time: t0
    end:
      event: finish
      time: t1
    errors:
      - event: failed
        message: "failed: {why}"
    error_when:
      - field: code
        op: ">="
        value: 500
    attributes:
      thread.id: tid
      label: "req-{reqid}"
      version: 3
    ttl: 30s
    max_open: 50
  - name: "{sql}"
    kind: client
    complete:
      event: query
      start: at
      duration: took
`;

Deno.test("parseProbeSpec: the test spec itself is valid", () => {
  const spec = parseProbeSpec("/etc/spanprobe/shop.yaml", GOOD);
  strictEqual(spec.name, "shop");
  strictEqual(spec.scriptPath, "/etc/spanprobe/shop.bt");
  strictEqual(spec.service, "shop-svc");
  deepStrictEqual(spec.params.map((p) => [p.name, p.type, p.required, p.default]), [
    ["binary", "path", true, undefined],
    ["limit", "int", false, "10"],
  ]);
  const [a, b] = spec.spans;
  strictEqual(a.ttlNs, 30_000_000_000n);
  strictEqual(a.maxOpen, 50);
  strictEqual(a.kind, SpanKind.SERVER);
  deepStrictEqual(a.attributes.map(([n, src]) => [n, Object.keys(src)[0]]), [
    ["thread.id", "field"],
    ["label", "template"],
    ["version", "constant"],
  ]);
  strictEqual(b.kind, SpanKind.CLIENT);
  deepStrictEqual(b.complete, { event: "query", start: { field: "at" }, duration: "took", end: undefined });
  deepStrictEqual(b.key, []);
  strictEqual(b.ttlNs, 60_000_000_000n); // default
});

Deno.test("parseProbeSpec: defaults for name and script come from the file name", () => {
  const text = GOOD.replace("name: shop\n", "").replace("script: shop.bt\n", "");
  const spec = parseProbeSpec("/srv/probes/my-probe.yml", text);
  strictEqual(spec.name, "my-probe");
  strictEqual(spec.scriptPath, "/srv/probes/my-probe.bt");
});

/** Replaces the unique occurrence of `from` in GOOD. */
function edit(from: string, to: string): string {
  const at = GOOD.indexOf(from);
  if (at < 0 || GOOD.indexOf(from, at + 1) >= 0) throw new Error(`test bug: "${from}" not unique in GOOD`);
  return GOOD.slice(0, at) + to + GOOD.slice(at + from.length);
}

/** 1-based number of the only line containing `token`. */
function lineOf(text: string, token: string): number {
  const lines = text.split("\n");
  const hits = lines.flatMap((l, i) => l.includes(token) ? [i + 1] : []);
  if (hits.length !== 1) throw new Error(`test bug: "${token}" is on ${hits.length} lines`);
  return hits[0];
}

const mistakes: { name: string; text: string; token: string; says: RegExp }[] = [
  {
    name: "unknown top-level key",
    text: edit("service: shop-svc\n", "service: shop-svc\nservce_name: typo\n"),
    token: "servce_name",
    says: /unknown key "servce_name"/,
  },
  {
    name: "unknown event in start",
    text: edit("      event: begin\n", "      event: beginning\n"),
    token: "event: beginning",
    says: /unknown event "beginning"/,
  },
  {
    name: "time field missing from the event",
    text: edit("      time: t1\n", "      time: t9\n"),
    token: "time: t9",
    says: /event "finish" has no field "t9"/,
  },
  {
    name: "key field absent from the end event",
    text: edit("    key: [pid, reqid]\n", "    key:\n      - pid\n      - tid\n"),
    token: "- tid",
    says: /event "finish" has no field "tid"/,
  },
  {
    name: "key field that is a string in one event and an integer in another",
    text: edit("  finish:\n    pid: int\n    reqid: string\n", "  finish:\n    pid: int\n    reqid: int\n"),
    token: "key: [pid, reqid]",
    says: /field "reqid" is int in event "finish" but string in event "begin"/,
  },
  {
    name: "bad field type",
    text: edit("    code: int\n", "    code: integer\n"),
    token: "code: integer",
    says: /unknown field type "integer"/,
  },
  {
    name: "bad kind",
    text: edit("    kind: client\n", "    kind: backend\n"),
    token: "kind: backend",
    says: /kind must be one of/,
  },
  {
    name: "bad ttl",
    text: edit("    ttl: 30s\n", "    ttl: 30 seconds\n"),
    token: "ttl: 30 seconds",
    says: /ttl must be a duration/,
  },
  {
    name: "zero ttl",
    text: edit("    ttl: 30s\n", "    ttl: 0s\n"),
    token: "ttl: 0s",
    says: /ttl must be a duration/,
  },
  {
    name: "start + end and complete in one span",
    text: edit('  - name: "checkout {reqid}"\n', '  - name: "checkout {reqid}"\n    complete: {event: query}\n'),
    token: "checkout {reqid}",
    says: /not both/,
  },
  {
    name: "name template naming an unknown field",
    text: edit('  - name: "checkout {reqid}"\n', '  - name: "checkout {request_id}"\n'),
    token: "checkout {request_id}",
    says: /"\{request_id\}" names no field/,
  },
  {
    name: "error message template naming a field of another event",
    text: edit('        message: "failed: {why}"\n', '        message: "failed: {code}"\n'),
    token: "failed: {code}",
    says: /"\{code\}" names no field/,
  },
  {
    name: "YAML syntax error (bad indentation)",
    text: edit("    tid: int\n", "   tid: int\n"),
    token: "   tid: int",
    says: /invalid YAML/,
  },
  {
    name: "duplicate YAML key",
    text: edit("    why: string\n", "    why: string\n    why: int\n"),
    token: "why: int",
    says: /invalid YAML/,
  },
  {
    name: "reserved event name",
    text: edit("  query:\n", "  __spanprobe_query:\n").replace("event: query", "event: __spanprobe_query"),
    token: "  __spanprobe_query:",
    says: /reserved/,
  },
  {
    name: "bad param type",
    text: edit("    type: int\n", "    type: float\n"),
    token: "type: float",
    says: /params\.limit\.type must be one of/,
  },
  {
    name: "unknown key in a span (typo)",
    text: edit("    attributes:\n", "    atributes:\n"),
    token: "atributes:",
    says: /unknown key "atributes"/,
  },
  {
    name: "attribute naming an unknown field",
    text: edit("      thread.id: tid\n", "      thread.id: thread\n"),
    token: "thread.id: thread",
    says: /neither the start\/end nor the complete event of this span has a field "thread"/,
  },
  {
    name: "attribute reading a field only the error event has (it would always be empty)",
    text: edit("      thread.id: tid\n", "      thread.id: message\n"),
    token: "thread.id: message",
    says: /neither the start\/end nor the complete event of this span has a field "message"/,
  },
  {
    name: "error_when with a bad op",
    text: edit('        op: ">="\n', '        op: "=>"\n'),
    token: 'op: "=>"',
    says: /op must be one of/,
  },
  {
    name: "duration field of the wrong type",
    text: edit("      duration: took\n", "      duration: sql\n"),
    token: "duration: sql",
    says: /field "sql" is string, expected duration_ns or int/,
  },
  {
    name: "complete with both duration and end",
    text: edit("      duration: took\n", "      duration: took\n      end: at\n"),
    token: "      event: query",
    says: /give duration or end, not both/,
  },
  {
    name: "bad max_open",
    text: edit("    max_open: 50\n", "    max_open: -3\n"),
    token: "max_open: -3",
    says: /max_open must be a positive integer/,
  },
  {
    name: "paired span without key",
    text: edit("    key: [pid, reqid]\n", ""),
    token: "checkout {reqid}",
    says: /needs key/,
  },
  {
    name: "start without event",
    text: edit("      event: begin\n", ""),
    token: "      time: t0",
    says: /start\.event is required/,
  },
  {
    name: "error_when without field",
    text: edit("      - field: code\n", "      - value: 1\n").replace("        value: 500\n", ""),
    token: "- value: 1",
    says: /error_when\[\]\.field is required/,
  },
  {
    name: "event that is not a mapping of fields",
    text: edit("  failed:\n", "  failed: [pid, reqid]\n  unused:\n"),
    token: "failed: [pid",
    says: /events\.failed must be a mapping/,
  },
];

for (const m of mistakes) {
  Deno.test(`parseProbeSpec: mistake: ${m.name} → UserError at file:line`, () => {
    const file = "/etc/spanprobe/shop.yaml";
    let err: unknown;
    try {
      parseProbeSpec(file, m.text);
    } catch (e) {
      err = e;
    }
    if (!(err instanceof UserError)) throw new Error(`expected a UserError, got ${err}`);
    strictEqual(err.exitCode, 2);
    const line = lineOf(m.text, m.token);
    const where = new RegExp(`^${file.replaceAll(".", "\\.")}:(\\d+):\\d+: `).exec(err.message);
    ok(where, `message starts with file:line:col: ${err.message}`);
    strictEqual(Number(where[1]), line, `line of "${m.token}" in: ${err.message}`);
    ok(m.says.test(err.message), `${err.message} should match ${m.says}`);
  });
}

Deno.test("loadProbeSpec: a missing file is a UserError naming it", async () => {
  let err: unknown;
  try {
    await loadProbeSpec("/nonexistent/dir/x.yaml");
  } catch (e) {
    err = e;
  }
  ok(err instanceof UserError);
  strictEqual(err.exitCode, 2);
  ok(err.message.startsWith("/nonexistent/dir/x.yaml: "), err.message);
});
