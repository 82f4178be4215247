/**
 * Self-telemetry: counters and the logger (formats, levels, rate limiting).
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { createCounters } from "../lib/telemetry/counters.ts";
import { createLogger, type LoggerOptions } from "../lib/telemetry/log.ts";

Deno.test("counters: inc, get, drops by reason, gauges", () => {
  const c = createCounters();
  strictEqual(c.get("events_in"), 0);
  c.inc("events_in");
  c.inc("events_in", 41);
  c.inc("parse_errors", 0);
  strictEqual(c.get("events_in"), 42);
  strictEqual(c.get("parse_errors"), 0);
  strictEqual(c.get("spans_exported"), 0);
  strictEqual(c.dropped(), 0);
  c.drop("queue_full", 3);
  c.drop("queue_full");
  c.drop("export_failed", 10);
  strictEqual(c.dropped("queue_full"), 4);
  strictEqual(c.dropped("export_failed"), 10);
  strictEqual(c.dropped("never"), 0);
  strictEqual(c.dropped(), 14);
  c.gauge("open_spans", 7);
  c.gauge("open_spans", 5);
  deepStrictEqual(c.snapshot(), {
    counters: { events_in: 42, parse_errors: 0 },
    dropped: { queue_full: 4, export_failed: 10 },
    gauges: { open_spans: 5 },
  });
});

Deno.test("counters: a snapshot is a copy", () => {
  const c = createCounters();
  c.inc("spans_ended", 2);
  const snap = c.snapshot();
  c.inc("spans_ended");
  c.drop("x");
  snap.counters.spans_ended = 100;
  deepStrictEqual(snap.dropped, {});
  strictEqual(c.get("spans_ended"), 3);
  strictEqual(c.snapshot().counters.spans_ended, 3);
});

Deno.test("counters: instances are independent", () => {
  const a = createCounters();
  const b = createCounters();
  a.inc("source_restarts");
  strictEqual(b.get("source_restarts"), 0);
});

function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const logger = createLogger({ ...options, write: (l) => lines.push(l) });
  return { logger, lines };
}

Deno.test("logger json: one valid JSON object per line, bigints as strings", () => {
  const { logger, lines } = capture({ format: "json" });
  logger.info("span exported", {
    probe: "usdt-requests",
    count: 3,
    startNs: 1795313354907507123n,
    nested: { ids: [1n, 18446744073709551615n] },
    err: new Error("connection refused"),
    skipped: undefined,
    text: 'a "quoted"\nline',
  });
  strictEqual(lines.length, 1);
  ok(!lines[0].includes("\n"), "one line");
  const rec = JSON.parse(lines[0]);
  match(rec.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  ok(Math.abs(Date.parse(rec.time) - Date.now()) < 60_000);
  deepStrictEqual({ ...rec, time: undefined }, {
    time: undefined,
    level: "info",
    msg: "span exported",
    probe: "usdt-requests",
    count: 3,
    startNs: "1795313354907507123",
    nested: { ids: ["1", "18446744073709551615"] },
    err: "connection refused",
    text: 'a "quoted"\nline',
  });
});

Deno.test("logger: levels below the minimum are dropped", () => {
  const cases: [LoggerOptions["level"], string[]][] = [
    [undefined, ["info", "warn", "error"]],
    ["debug", ["debug", "info", "warn", "error"]],
    ["warn", ["warn", "error"]],
    ["error", ["error"]],
  ];
  for (const [level, want] of cases) {
    const { logger, lines } = capture({ format: "json", level });
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    deepStrictEqual(lines.map((l) => JSON.parse(l).level), want, `level ${level}`);
  }
});

Deno.test("logger human: time, padded level, message, key=value fields", () => {
  const { logger, lines } = capture();
  logger.warn("export failed", {
    endpoint: "http://x:4318",
    reason: "connection refused",
    attempt: 2,
    big: 1795313354907507123n,
    ok: false,
    gone: undefined,
    err: new Error("boom now"),
  });
  strictEqual(lines.length, 1);
  const m = /^(\S+) (WARN ) (.*)$/.exec(lines[0]);
  ok(m, lines[0]);
  ok(!Number.isNaN(Date.parse(m[1])));
  strictEqual(
    m[3],
    'export failed endpoint=http://x:4318 reason="connection refused" attempt=2 big=1795313354907507123 ok=false err="boom now"',
  );
  logger.error("x", { q: 'say "hi"', eq: "a=b" });
  match(lines[1], / ERROR x q="say \\"hi\\"" eq="a=b"$/);
});

Deno.test("logger warnLimited: at most one record per interval and key, reporting the suppressed count", () => {
  const realNow = Date.now;
  let t = 1_000_000;
  Date.now = () => t;
  try {
    const { logger, lines } = capture({ format: "json", intervalMs: 1000 });
    const at = (ms: number, key = "orphan", fields?: Record<string, unknown>) => {
      t = 1_000_000 + ms;
      logger.warnLimited(key, `msg@${ms}`, fields);
    };
    at(0, "orphan", { event: "req_end" });
    at(100);
    at(999);
    at(500, "lost"); // another key: its own window
    at(1000);
    at(1500);
    at(2000);
    at(3500);
    at(3600, "lost");
    const recs = lines.map((l) => JSON.parse(l));
    deepStrictEqual(recs.map((r) => [r.msg, r.suppressed]), [
      ["msg@0", undefined],
      ["msg@500", undefined],
      ["msg@1000", 2],
      ["msg@2000", 1],
      ["msg@3500", undefined],
      ["msg@3600", undefined],
    ]);
    strictEqual(recs[0].event, "req_end");
    ok(recs.every((r) => r.level === "warn"));
  } finally {
    Date.now = realNow;
  }
});

Deno.test("logger warnLimited: suppressed count added to the caller's fields in human format", () => {
  const realNow = Date.now;
  let t = 0;
  Date.now = () => t;
  try {
    const { logger, lines } = capture({ intervalMs: 10 });
    logger.warnLimited("k", "lost events", { n: 1 });
    for (let i = 0; i < 5; i++) logger.warnLimited("k", "lost events", { n: 2 + i });
    t = 10;
    logger.warnLimited("k", "lost events", { n: 99 });
    strictEqual(lines.length, 2);
    match(lines[0], /WARN {2}lost events n=1$/);
    match(lines[1], /WARN {2}lost events n=99 suppressed=5$/);
  } finally {
    Date.now = realNow;
  }
});
