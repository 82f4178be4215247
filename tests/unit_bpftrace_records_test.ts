/**
 * bpftrace `-f json` lines to records: the fast tuple path, the general path,
 * every record shape of bpftrace 0.17 and ≥ 0.24, and malformed lines.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  type BpftraceRecord,
  bpftraceRecordParser,
  parseBpftraceLine,
  parseBpftraceLineAt,
} from "../lib/streams/bpftrace_records.ts";
import { lineBatchOf } from "../lib/streams/lines.ts";
import { scanFlatTuple } from "../lib/streams/exact_json.ts";

/** The same tuple data spelled three ways: as bpftrace 0.17 prints it, compact, and spaced out. */
function spellings(dataJson: string): { fast: string; compact: string; spaced: string } {
  return {
    fast: `{"type": "value", "data": ${dataJson}}`,
    compact: `{"type":"value","data":${dataJson}}`,
    spaced: `{ "data" : ${dataJson} ,\t"type" : "value" }`,
  };
}

const tupleCases: { name: string; data: string; values: unknown[] }[] = [
  {
    name: "as 0.17 prints a tuple (no spaces)",
    data: '["request_start",1234,5678,"req-1",1795313354907507123]',
    values: ["request_start", 1234, 5678, "req-1", 1795313354907507123n],
  },
  {
    name: "spaces inside the array",
    data: '[ "ev" , 1 , 2 ]',
    values: ["ev", 1, 2],
  },
  {
    name: "integers beyond 2^53 exact, both signs",
    data: '["ev", 9007199254740993, -1795313354907507123, 18446744073709551615]',
    values: ["ev", 9007199254740993n, -1795313354907507123n, 18446744073709551615n],
  },
  {
    name: "small negatives and zero stay numbers",
    data: '["ev", -42, 0, -9007199254740991]',
    values: ["ev", -42, 0, -9007199254740991],
  },
  {
    name: "strftime decimal kept as exact text",
    data: '["__spanprobe_clock",158474033111,1795313354.907507]',
    values: ["__spanprobe_clock", 158474033111, "1795313354.907507"],
  },
  {
    name: "strings with quote, backslash, tab and newline",
    data: '["ev", "say \\"hi\\"", "C:\\\\dir", "a\\tb", "l1\\nl2", ""]',
    values: ["ev", 'say "hi"', "C:\\dir", "a\tb", "l1\nl2", ""],
  },
  {
    name: "sign-extended UTF-8 repaired",
    data: '["ev", "caf\\uffffffc3\\uffffffa9", "\\uffffffc3\\uffffffa9"]',
    values: ["ev", "café", "é"],
  },
  {
    name: "invalid UTF-8 becomes bytes",
    data: '["ev", "\\uffffffe9t\\uffffffe9", "ok"]',
    values: ["ev", new Uint8Array([0xe9, 0x74, 0xe9]), "ok"],
  },
  {
    name: "big integers printed as strings (≥ 0.24) stay strings here",
    data: '["ev", "1795313354907507123"]',
    values: ["ev", "1795313354907507123"],
  },
  { name: "booleans and null", data: '["ev", true, false, null]', values: ["ev", true, false, null] },
  { name: "empty tuple", data: "[]", values: [] },
];

for (const c of tupleCases) {
  Deno.test(`parseBpftraceLine: tuple, fast and general paths agree: ${c.name}`, () => {
    const { fast, compact, spaced } = spellings(c.data);
    ok(scanFlatTuple(fast) !== undefined, "the 0.17 spelling takes the fast path");
    strictEqual(scanFlatTuple(compact), undefined, "other spellings take the general path");
    strictEqual(scanFlatTuple(spaced), undefined);
    const want = { type: "tuple", values: c.values };
    deepStrictEqual(parseBpftraceLine(fast), want, "fast");
    deepStrictEqual(parseBpftraceLine(compact), want, "compact");
    deepStrictEqual(parseBpftraceLine(spaced), want, "spaced");
  });
}

const recordCases: { name: string; line: string; want: BpftraceRecord }[] = [
  {
    name: "nested tuple (general path)",
    line: '{"type": "value", "data": ["ev", [1, "a\\uffffffc3\\uffffffa9"], [1795313354907507123, [true]]]}',
    want: { type: "tuple", values: ["ev", [1, "aé"], [1795313354907507123n, [true]]] },
  },
  {
    name: "print of a plain value",
    line: '{"type": "value", "data": 7}',
    want: { type: "value", value: 7 },
  },
  {
    name: "print of a big value",
    line: '{"type": "value", "data": 1795313354907507123}',
    want: { type: "value", value: 1795313354907507123n },
  },
  {
    name: "print of a big value as a string (≥ 0.24)",
    line: '{"type": "value", "data": "1795313354907507123"}',
    want: { type: "value", value: "1795313354907507123" },
  },
  {
    name: "attached_probes",
    line: '{"type": "attached_probes", "data": {"probes": 5}}',
    want: { type: "attached_probes", probes: 5 },
  },
  {
    name: "printf keeps its text and newline",
    line: '{"type": "printf", "data": "req \\"a\\"\\tdone\\n"}',
    want: { type: "printf", text: 'req "a"\tdone\n' },
  },
  {
    name: "printf with sign-extended UTF-8",
    line: '{"type": "printf", "data": "caf\\uffffffc3\\uffffffa9\\n"}',
    want: { type: "printf", text: "café\n" },
  },
  {
    name: "printf with invalid UTF-8 is still a printf record",
    line: '{"type": "printf", "data": "x\\uffffffe9y\\n"}',
    want: { type: "printf", text: "x\ufffdy\n" },
  },
  {
    name: "lost events, 0.17 (events)",
    line: '{"type": "lost_events", "data": {"events": 4283}}',
    want: { type: "lost_events", count: 4283n },
  },
  {
    name: "lost events, ≥ 0.24 (count)",
    line: '{"type": "lost_events", "data": {"count": 12}}',
    want: { type: "lost_events", count: 12n },
  },
  {
    name: "lost events, count and events both present: count wins",
    line: '{"type": "lost_events", "data": {"count": 12, "events": 3}}',
    want: { type: "lost_events", count: 12n },
  },
  {
    name: "lost events, count as a string",
    line: '{"type": "lost_events", "data": {"count": "18446744073709551615"}}',
    want: { type: "lost_events", count: 18446744073709551615n },
  },
  {
    name: "lost events, count as a big number",
    line: '{"type": "lost_events", "data": {"count": 18446744073709551615}}',
    want: { type: "lost_events", count: 18446744073709551615n },
  },
  {
    name: "map",
    line: '{"type": "map", "data": {"@calls": {"read": 10, "write": 1795313354907507123}}}',
    want: { type: "other", kind: "map" },
  },
  {
    name: "hist",
    line: '{"type": "hist", "data": {"@h": [{"min": 0, "max": 1, "count": 3}]}}',
    want: { type: "other", kind: "hist" },
  },
  {
    name: "stats",
    line: '{"type": "stats", "data": {"@s": {"count": 2, "average": 5, "total": 10}}}',
    want: { type: "other", kind: "stats" },
  },
  { name: "time", line: '{"type": "time", "data": "01:44:19\\n"}', want: { type: "other", kind: "time" } },
  {
    name: "error record with text",
    line: '{"type": "error", "data": "something failed\\n"}',
    want: { type: "message", level: "error", text: "something failed" },
  },
  {
    name: "error record with a msg object",
    line: '{"type": "error", "data": {"msg": "cannot attach  \\n", "probe": "x"}}',
    want: { type: "message", level: "error", text: "cannot attach" },
  },
  {
    name: "error record whose text is not UTF-8",
    line: '{"type": "error", "data": "bad \\uffffffe9 byte\\n"}',
    want: { type: "message", level: "error", text: "bad \ufffd byte" },
  },
  {
    name: "warning record with a message object",
    line: '{"type": "warning", "data": {"message": "slow"}}',
    want: { type: "message", level: "warning", text: "slow" },
  },
  {
    name: "warning record of another shape is shown as JSON (big ints as text)",
    line: '{"type": "warning", "data": {"n": 1795313354907507123}}',
    want: { type: "message", level: "warning", text: '{"n":"1795313354907507123"}' },
  },
];

for (const c of recordCases) {
  Deno.test(`parseBpftraceLine: ${c.name}`, () => {
    deepStrictEqual(parseBpftraceLine(c.line), c.want);
    // the same line inside a batch (scanned as bytes when it is ASCII), between two others
    const batch = lineBatchOf(['{"type": "value", "data": [1]}', c.line, "]"]);
    deepStrictEqual(parseBpftraceLineAt(batch, 1), c.want, "in a batch");
  });
}

const malformed: [string, string][] = [
  ["truncated tuple (fast path)", '{"type": "value", "data": ["ev", 1, "ab'],
  ["truncated tuple after comma", '{"type": "value", "data": ["ev", 1,'],
  ["truncated object", '{"type": "printf", "data": "x'],
  ["random garbage", "garbage \u0001\u0002 {{"],
  ["bpftrace text output", "Attaching 3 probes..."],
  ["a JSON array", "[1, 2, 3]"],
  ["a JSON string", '"value"'],
  ["a JSON number", "42"],
  ["null", "null"],
  ["object without type", '{"data": [1]}'],
  ["type of the wrong type", '{"type": 5, "data": [1]}'],
  ["printf without text", '{"type": "printf", "data": 5}'],
  ["lost_events without a count", '{"type": "lost_events", "data": {}}'],
  ["lost_events with a non-numeric count", '{"type": "lost_events", "data": {"count": "many"}}'],
  ["lost_events with a fractional count", '{"type": "lost_events", "data": {"count": 1.5}}'],
  ["malformed number in a tuple", '{"type": "value", "data": ["ev", 12.34.56]}'],
];

for (const [name, line] of malformed) {
  Deno.test(`parseBpftraceLine: malformed: ${name} throws SyntaxError`, () => {
    throws(() => parseBpftraceLine(line), SyntaxError);
    throws(() => parseBpftraceLineAt(lineBatchOf(["[1]", line, '"]}']), 1), SyntaxError, "in a batch");
  });
}

Deno.test("bpftraceRecordParser: malformed lines reported, valid lines between them come out in order", async () => {
  const batches = [
    [
      '{"type": "attached_probes", "data": {"probes": 2}}',
      malformed[0][1],
      '{"type": "value", "data": ["a",1]}',
    ],
    [malformed[3][1], malformed[5][1]], // a batch with nothing valid: no output batch
    [
      '{"type":"value","data":["b",[2]]}',
      malformed[9][1],
      '{"type": "lost_events", "data": {"events": 7}}',
      malformed[1][1],
    ],
  ];
  const bad: [string, Error][] = [];
  const parser = bpftraceRecordParser({ onMalformed: (line, e) => bad.push([line, e]) });
  const out: BpftraceRecord[][] = [];
  for await (const b of ReadableStream.from(batches.map(lineBatchOf)).pipeThrough(parser)) out.push(b);
  deepStrictEqual(out, [
    [{ type: "attached_probes", probes: 2 }, { type: "tuple", values: ["a", 1] }],
    [{ type: "tuple", values: ["b", [2]] }, { type: "lost_events", count: 7n }],
  ]);
  deepStrictEqual(bad.map(([l]) => l), [
    malformed[0][1],
    malformed[3][1],
    malformed[5][1],
    malformed[9][1],
    malformed[1][1],
  ]);
  for (const [, e] of bad) ok(e instanceof SyntaxError, `${e}`);
});

Deno.test("bpftraceRecordParser: without hooks, malformed lines are skipped silently", async () => {
  const out: BpftraceRecord[][] = [];
  const input = ReadableStream.from([lineBatchOf(["nope", '{"type": "value", "data": ["x"]}'])]);
  for await (const b of input.pipeThrough(bpftraceRecordParser())) out.push(b);
  deepStrictEqual(out, [[{ type: "tuple", values: ["x"] }]]);
});
