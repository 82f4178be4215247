/**
 * probeEventMapper: bpftrace records to typed probe events, clock calibration
 * and the backlog of events that wait for it.
 */
import { deepStrictEqual, match, ok, strictEqual, throws } from "node:assert/strict";
import type { FieldType, FieldValue } from "../lib/core/fields.ts";
import { parseProbeSpec } from "../lib/config/probe_spec.ts";
import { createClockOffsets } from "../lib/core/clock.ts";
import { type BpftraceRecord, parseBpftraceLine } from "../lib/streams/bpftrace_records.ts";
import type { ExactValue } from "../lib/streams/exact_json.ts";
import {
  CLOCK_EVENT,
  clocksNeeded,
  type ProbeEvent,
  type ProbeEventHooks,
  probeEventMapper,
  toFieldValue,
} from "../lib/streams/probe_events.ts";

const REALTIME_SPEC = parseProbeSpec(
  "rt.yaml",
  `
events:
  req:
    pid: int
    name: string
    ok: bool
    t: realtime_ns
    d: duration_ns
spans:
  - name: r
    complete: {event: req, start: t, duration: d}
`,
);

const BOOT_SPEC = parseProbeSpec(
  "boot.yaml",
  `
events:
  io:
    seq: int
    t0: boottime_ns
  note:
    seq: int
spans:
  - name: io
    complete: {event: io, start: t0}
  - name: note
    complete: {event: note}
`,
);

const ARRIVAL = 1_795_313_400_000_000_000n;
const tuple = (...values: ExactValue[]): BpftraceRecord => ({ type: "tuple", values });

Deno.test("toFieldValue: conversions per field type", () => {
  const good: [ExactValue, FieldType, FieldValue][] = [
    [5, "int", 5], // safe integers stay numbers (no allocation)
    [-5, "int", -5],
    [9007199254740991, "int", 9007199254740991],
    [1795313354907507123n, "int", 1795313354907507123n],
    ["1795313354907507123", "int", 1795313354907507123n], // ≥ 0.24 prints big ints as strings
    ["9007199254740993", "int", 9007199254740993n], // beyond 2^53: bigint, exact
    ["-42", "int", -42],
    [5, "duration_ns", 5n], // times and durations are always bigint
    [0, "duration_ns", 0n],
    ["18446744073709551615", "duration_ns", 18446744073709551615n],
    [1795313354907507123n, "realtime_ns", 1795313354907507123n],
    [158474033111, "boottime_ns", 158474033111n],
    [158474033111, "monotonic_ns", 158474033111n],
    ["text", "string", "text"],
    [7, "string", "7"],
    [1795313354907507123n, "string", "1795313354907507123"],
    [false, "string", "false"],
    [true, "bool", true],
    [false, "bool", false],
    [0, "bool", false],
    [1, "bool", true],
    [0n, "bool", false],
    [18446744073709551615n, "bool", true],
  ];
  for (const [v, type, want] of good) {
    deepStrictEqual(toFieldValue(v, type), want, `${String(v)} as ${type}`);
  }
  const bytes = new Uint8Array([0xe9]);
  strictEqual(toFieldValue(bytes, "string"), bytes, "bytes stay bytes");
});

Deno.test("toFieldValue: values that do not fit their type throw, saying why", () => {
  const bad: [ExactValue, FieldType, RegExp][] = [
    [1.5, "int", /expected an integer, got number 1.5/],
    ["1795313354.907507", "realtime_ns", /expected an integer, got string/],
    ["12abc", "int", /expected an integer/],
    ["", "int", /expected an integer/],
    [true, "int", /expected an integer, got boolean/],
    [null, "duration_ns", /expected an integer, got null/],
    [new Uint8Array([1]), "int", /expected an integer, got bytes/],
    [[1, 2], "boottime_ns", /expected an integer, got a list/],
    [null, "string", /expected a string, got null/],
    [[], "string", /expected a string, got a list/],
    [{ a: 1 }, "string", /expected a string, got object/],
    ["true", "bool", /expected a boolean, got string/],
    [null, "bool", /expected a boolean/],
  ];
  for (const [v, type, says] of bad) throws(() => toFieldValue(v, type), says, `${String(v)} as ${type}`);
});

Deno.test("clocksNeeded: kernel clocks only", () => {
  deepStrictEqual(clocksNeeded(REALTIME_SPEC.events.values()), new Set());
  deepStrictEqual(clocksNeeded(BOOT_SPEC.events.values()), new Set(["boottime"]));
});

interface Seen {
  unknown: string[];
  bad: [string, string][];
  lost: bigint[];
  messages: [string, string][];
  backlogDrops: number[];
}

async function run(
  spec: typeof REALTIME_SPEC,
  batches: BpftraceRecord[][],
  maxBacklog?: number,
): Promise<{ out: ProbeEvent[][]; seen: Seen; clocks: ReturnType<typeof createClockOffsets> }> {
  const seen: Seen = { unknown: [], bad: [], lost: [], messages: [], backlogDrops: [] };
  const clocks = createClockOffsets();
  let n = 0n;
  const hooks: ProbeEventHooks = {
    onUnknownEvent: (name) => seen.unknown.push(name),
    onBadEvent: (event, why) => seen.bad.push([event, why]),
    onLost: (count) => seen.lost.push(count),
    onMessage: (level, text) => seen.messages.push([level, text]),
    onClockBacklogDrop: (k) => seen.backlogDrops.push(k),
    now: () => ARRIVAL + n++, // one reading per batch
  };
  const out: ProbeEvent[][] = [];
  const stream = ReadableStream.from(batches).pipeThrough(probeEventMapper(spec.events, clocks, hooks, maxBacklog));
  for await (const b of stream) out.push(b);
  return { out, seen, clocks };
}

/** Events as [name, values, arrival offset] for compact comparison. */
function brief(batches: ProbeEvent[][]): [string, FieldValue[], bigint][][] {
  return batches.map((b) => b.map((e) => [e.spec.name, e.values, e.arrivalNs - ARRIVAL]));
}

Deno.test("probeEventMapper: tuples become typed events in field order", async () => {
  const { out, seen } = await run(REALTIME_SPEC, [
    [tuple("req", 10, "café", 1, 1795313354907507123n, "250")],
    [tuple("req", 11, new Uint8Array([0xff]), false, "1795313354907507124", 0)],
  ]);
  deepStrictEqual(brief(out), [
    [["req", [10, "café", true, 1795313354907507123n, 250n], 0n]],
    [["req", [11, new Uint8Array([0xff]), false, 1795313354907507124n, 0n], 1n]],
  ]);
  strictEqual(out[0][0].spec, REALTIME_SPEC.events.get("req"));
  deepStrictEqual(seen, { unknown: [], bad: [], lost: [], messages: [], backlogDrops: [] });
});

Deno.test("probeEventMapper: bad tuples are reported, the good ones around them kept in order", async () => {
  const { out, seen } = await run(REALTIME_SPEC, [[
    tuple("req", 1, "a", true, 100, 5),
    tuple("req", 2, "b", true, 100), // one value short
    tuple("req", 3, "c", true, 100, 5, 6), // one too many
    tuple("nope", 1),
    tuple("req", 4, "d", true, 100.5, 5), // fractional time
    tuple(42, "x"),
    tuple(),
    tuple("req", 5, "e", "yes", 100, 5), // not a bool
    tuple("req", 6, "f", false, 200, 7),
  ]]);
  deepStrictEqual(brief(out), [[
    ["req", [1, "a", true, 100n, 5n], 0n],
    ["req", [6, "f", false, 200n, 7n], 0n],
  ]]);
  deepStrictEqual(seen.bad.map(([e]) => e), ["req", "req", "req", "req"]);
  match(seen.bad[0][1], /has 4 values, the spec declares 5 fields/);
  match(seen.bad[1][1], /has 6 values, the spec declares 5 fields/);
  match(seen.bad[2][1], /expected an integer, got number 100.5/);
  match(seen.bad[3][1], /expected a boolean/);
  strictEqual(seen.unknown.length, 3);
  strictEqual(seen.unknown[0], "nope");
  match(seen.unknown[1], /number 42/);
  match(seen.unknown[2], /undefined/); // an empty tuple has no name
});

Deno.test("probeEventMapper: lost events and messages go to their hooks, other records are ignored", async () => {
  const { out, seen } = await run(REALTIME_SPEC, [[
    { type: "attached_probes", probes: 3 },
    { type: "lost_events", count: 4283n },
    { type: "printf", text: "hello\n" },
    { type: "message", level: "warning", text: "careful" },
    { type: "other", kind: "map" },
    { type: "value", value: 7 },
    { type: "lost_events", count: 18446744073709551615n },
  ]]);
  deepStrictEqual(out, [], "no events: no batch");
  deepStrictEqual(seen.lost, [4283n, 18446744073709551615n]);
  deepStrictEqual(seen.messages, [["warning", "careful"]]);
  deepStrictEqual(seen.unknown, []);
});

Deno.test("probeEventMapper: calibration from a real bpftrace line sets the boot offset exactly", async () => {
  // as bpftrace 0.17 prints print(("__spanprobe_clock", nsecs, strftime("%s.%f", nsecs)))
  const line = `{"type": "value", "data": ["${CLOCK_EVENT}",158474033111,1795313354.907507]}`;
  const record = parseBpftraceLine(line);
  deepStrictEqual(record, tuple(CLOCK_EVENT, 158474033111, "1795313354.907507"));
  const { out, clocks, seen } = await run(BOOT_SPEC, [[record]]);
  deepStrictEqual(out, []);
  deepStrictEqual(seen.bad, []);
  deepStrictEqual(seen.unknown, [], "the clock record is not an unknown event");
  // 1795313354.907507 s = 1795313354907507000 ns; minus the boot-clock reading
  strictEqual(clocks.get("boottime"), 1795313354907507000n - 158474033111n);
  strictEqual(clocks.get("boottime"), 1795313196433473889n);
  strictEqual(clocks.get("monotonic"), 1795313196433473889n);
  strictEqual(clocks.toWall("boottime", 158474033111n), 1795313354907507000n);
});

Deno.test("probeEventMapper: events needing boot time wait for calibration, then come out in order", async () => {
  const io = (seq: number, t0: number) => tuple("io", seq, t0);
  const clock = tuple(CLOCK_EVENT, 1000, "1795313354.000001");
  const { out, seen, clocks } = await run(BOOT_SPEC, [
    [io(1, 900), tuple("note", 2)],
    [io(3, 950)],
    [io(4, 990), clock, io(5, 1010)],
    [io(6, 1020)],
  ]);
  deepStrictEqual(brief(out), [
    [
      ["io", [1, 900n], 0n],
      ["note", [2], 0n],
      ["io", [3, 950n], 1n],
      ["io", [4, 990n], 2n],
      ["io", [5, 1010n], 2n],
    ],
    [["io", [6, 1020n], 3n]],
  ]);
  strictEqual(clocks.get("boottime"), 1795313354000001000n - 1000n);
  deepStrictEqual(seen.backlogDrops, []);
});

Deno.test("probeEventMapper: a calibration-only batch releases the backlog", async () => {
  const { out } = await run(BOOT_SPEC, [[tuple("io", 1, 5)], [tuple(CLOCK_EVENT, 5, "1795313354.5")]]);
  deepStrictEqual(brief(out), [[["io", [1, 5n], 0n]]]);
});

Deno.test("probeEventMapper: a later calibration replaces the offset (clock step)", async () => {
  const { clocks } = await run(BOOT_SPEC, [
    [tuple(CLOCK_EVENT, 100, "1795313354.000000")],
    [tuple(CLOCK_EVENT, 200, "1795313355.000000")],
  ]);
  strictEqual(clocks.get("boottime"), 1795313355000000000n - 200n);
});

Deno.test("probeEventMapper: a bad calibration record is reported and calibrates nothing", async () => {
  const { out, seen, clocks } = await run(BOOT_SPEC, [
    [tuple(CLOCK_EVENT, 100, "soon"), tuple("io", 1, 2)],
    [tuple(CLOCK_EVENT, 1.5, "1795313354.0")],
  ]);
  deepStrictEqual(out, []);
  strictEqual(clocks.get("boottime"), undefined);
  deepStrictEqual(seen.bad.map(([e]) => e), [CLOCK_EVENT, CLOCK_EVENT]);
  deepStrictEqual(seen.backlogDrops, [1], "the held event is dropped at the end of input");
});

Deno.test("probeEventMapper: the backlog is bounded, the oldest dropped first", async () => {
  const { out, seen } = await run(
    BOOT_SPEC,
    [
      [tuple("io", 1, 1), tuple("io", 2, 2)],
      [tuple("io", 3, 3), tuple("io", 4, 4), tuple("io", 5, 5)],
      [tuple(CLOCK_EVENT, 10, "1795313354.0")],
    ],
    3,
  );
  deepStrictEqual(seen.backlogDrops, [2]);
  deepStrictEqual(out.flat().map((e) => e.values[0]), [3, 4, 5]);
});

Deno.test("probeEventMapper: events of a realtime-only spec are never held", async () => {
  const { out } = await run(REALTIME_SPEC, [[tuple("req", 1, "a", true, 1, 1)]]);
  strictEqual(out.length, 1);
  ok(out[0][0].values[3] === 1n);
});
