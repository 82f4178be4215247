/**
 * The reliability layer of the OTLP exporter against the real loopback
 * receiver: outages within and beyond the memory bounds, which statuses are
 * retried and when, the disk spool (restart, corruption, cap), shutdown, and
 * the span accounting invariant.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { parseAgentConfig, parsePort, parseSize } from "../lib/config/agent_config.ts";
import { permissionFlags } from "../lib/permissions.ts";
import { permissionsForRun } from "../scripts/launch.ts";
import { createOtlpHttpSink, type OtlpHttpSinkOptions } from "../lib/export/otlp_http.ts";
import type { ReliableExporter } from "../lib/export/reliable_exporter.ts";
import {
  crc32,
  decodeSpoolFile,
  type EncodedBatch,
  encodeSpoolFile,
  openSpool,
  parseSpoolHeader,
} from "../lib/export/spool.ts";
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { type Counters, createCounters, spanAccount } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import { prometheusText } from "../lib/telemetry/prometheus.ts";
import { type OtlpReceiver, startOtlpReceiver } from "./support/otlp_receiver.ts";

const resource = { attributes: { "service.name": "reliability-test" } };

function spans(n: number, from = 0): SpanData[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: (i + 1).toString(16).padStart(16, "0"),
      name: "request",
      kind: 2,
      startNs: 1795313354907507123n + BigInt(i),
      endNs: 1795313354907607123n + BigInt(i),
      attributes: { "request.id": `req-${i}`, "http.response.status_code": 200n },
      status: { code: 0 },
      resource,
    } satisfies SpanData;
  });
}

const idOf = (i: number) => (i + 1).toString(16).padStart(16, "0");

function ids(received: { spanId: string }[]): string[] {
  return received.map((s) => s.spanId).sort();
}

function noDuplicates(received: { spanId: string }[]): void {
  strictEqual(new Set(received.map((s) => s.spanId)).size, received.length, "no span arrived twice");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Ctx {
  receiver: OtlpReceiver;
  sink: ReliableExporter;
  counters: Counters;
  logs: string[];
}

async function withSink(
  options: Partial<OtlpHttpSinkOptions>,
  body: (ctx: Ctx) => Promise<void>,
  receiver?: OtlpReceiver,
): Promise<void> {
  receiver ??= await startOtlpReceiver();
  const counters = options.counters ?? createCounters();
  const logs: string[] = [];
  const sink = createOtlpHttpSink({
    endpoint: receiver.url,
    counters,
    logger: createLogger({ write: (l) => logs.push(l), level: "debug" }),
    initialBackoffMs: 20,
    maxBackoffMs: 100,
    scheduleDelayMs: 20,
    ...options,
  });
  try {
    await body({ receiver, sink, counters, logs });
  } finally {
    await sink.shutdown(Date.now() + 2000);
    await receiver.close();
  }
}

/** produced (pushed) = exported + dropped + pending, exactly. */
function checkAccount(counters: Counters, pushed: number): void {
  const a = spanAccount(counters.snapshot());
  strictEqual(a.exported + a.dropped + a.pending, pushed + a.recovered, JSON.stringify(counters.snapshot()));
}

Deno.test("outage within the bound: nothing dropped, every span arrives once after recovery", async () => {
  await withSink({ maxBatchSpans: 500 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior("down");
    for (let i = 0; i < 20_000; i += 100) {
      await sink.push(spans(100, i));
      if (i % 2000 === 0) await sleep(1);
    }
    await until(() => counters.get("export_batches_retried") >= 3, "retries");
    strictEqual(counters.dropped(), 0);
    strictEqual(sink.heldSpans, 20_000);
    // held as encoded request bodies (what the byte bound measures), not as span objects
    let encoded = 0;
    for (let i = 0; i < 20_000; i += 500) encoded += encodeOtlpTraceProto(spans(500, i), "").length;
    ok(Math.abs(sink.heldBytes - encoded) < encoded * 0.05, `held ${sink.heldBytes} bytes, encoded ${encoded}`);
    strictEqual(counters.snapshot().gauges.export_queue_spans, 20_000);
    await receiver.setBehavior("ok");
    await sink.flush(Date.now() + 10_000);
    strictEqual(receiver.spans.length, 20_000);
    noDuplicates(receiver.spans);
    strictEqual(counters.get("spans_exported"), 20_000);
    strictEqual(counters.dropped(), 0);
    checkAccount(counters, 20_000);
  });
});

Deno.test("outage beyond the span bound: the newest are dropped and counted exactly", async () => {
  await withSink({ maxQueueSpans: 1000, maxBatchSpans: 100 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior("down");
    for (let i = 0; i < 3000; i += 50) sink.push(spans(50, i));
    strictEqual(counters.dropped("export_queue_full"), 2000);
    strictEqual(sink.heldSpans, 1000);
    await receiver.setBehavior("ok");
    await sink.flush(Date.now() + 10_000);
    noDuplicates(receiver.spans);
    deepStrictEqual(ids(receiver.spans), Array.from({ length: 1000 }, (_, i) => idOf(i)).sort());
    checkAccount(counters, 3000);
  });
});

Deno.test("outage beyond the byte bound: memory stays under it, drops counted exactly", async () => {
  await withSink({ maxQueueBytes: 64 * 1024, maxBatchSpans: 100 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior("down");
    let maxHeld = 0;
    for (let i = 0; i < 10_000; i += 100) {
      sink.push(spans(100, i));
      await sleep(0);
      maxHeld = Math.max(maxHeld, sink.heldBytes);
    }
    ok(maxHeld <= 64 * 1024 + 100 * 200, `held at most ${maxHeld} bytes`);
    const dropped = counters.dropped("export_queue_full");
    ok(dropped > 5000, `dropped ${dropped}`);
    await receiver.setBehavior("ok");
    await sink.flush(Date.now() + 10_000);
    noDuplicates(receiver.spans);
    strictEqual(receiver.spans.length + dropped, 10_000);
    checkAccount(counters, 10_000);
  });
});

Deno.test("429 with Retry-After: 2 → no request at all before 2 s, then the same batch again", async () => {
  // the backoff is a minute (jittered ≥ 30 s): a retry before that can only follow Retry-After
  await withSink({ initialBackoffMs: 60_000, maxBackoffMs: 60_000 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior([{ kind: "status", status: 429, retryAfter: 2, times: 1 }, "ok"]);
    sink.push(spans(10));
    await until(() => receiver.requests.length >= 1, "a first request");
    sink.push(spans(10, 10)); // more spans meanwhile: they wait too
    await sink.flush(Date.now() + 10_000);
    const [first, second] = receiver.requests;
    const gap = second.arrivedAtPerf - first.arrivedAtPerf;
    ok(gap >= 2000, `retried after ${gap.toFixed(0)} ms`);
    ok(gap < 30_000, `Retry-After replaced the backoff (${gap.toFixed(0)} ms)`);
    deepStrictEqual(
      second.decoded!.resourceSpans[0].scopeSpans[0].spans.map((s) => s.spanId),
      first.decoded!.resourceSpans[0].scopeSpans[0].spans.map((s) => s.spanId),
    );
    strictEqual(receiver.spans.length, 20);
    strictEqual(counters.get("export_batches_retried"), 1);
  });
});

Deno.test("Retry-After as an HTTP date is honored too", async () => {
  await withSink({}, async ({ receiver, sink }) => {
    const at = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000);
    await receiver.setBehavior([{ kind: "status", status: 503, retryAfter: at.toUTCString(), times: 1 }, "ok"]);
    sink.push(spans(5));
    await sink.flush(Date.now() + 10_000);
    ok(receiver.requests[1].arrivedAt >= at.getTime() - 5, "not before the date");
    strictEqual(receiver.spans.length, 5);
  });
});

Deno.test("only 429, 502, 503, 504 and no answer are retried; other statuses drop the batch, counted", async () => {
  for (const status of [429, 502, 503, 504]) {
    await withSink({}, async ({ receiver, sink, counters }) => {
      await receiver.setBehavior([{ kind: "status", status, times: 2 }, "ok"]);
      sink.push(spans(7));
      await sink.flush(Date.now() + 5000);
      strictEqual(receiver.requests.length, 3, `${status}`);
      strictEqual(receiver.spans.length, 7, `${status}`);
      strictEqual(counters.get("export_batches_retried"), 2, `${status}`);
      strictEqual(counters.dropped(), 0);
    });
  }
  for (const status of [400, 401, 403, 404, 413, 500, 501]) {
    await withSink({}, async ({ receiver, sink, counters }) => {
      await receiver.setBehavior({ kind: "status", status });
      sink.push(spans(7));
      await sink.flush(Date.now() + 5000);
      await sleep(150); // a retry would come within the backoff (≤ 100 ms here)
      strictEqual(receiver.requests.length, 1, `${status} is not retried`);
      strictEqual(counters.dropped(`export_http_${status}`), 7);
      strictEqual(counters.get("export_batches_failed"), 1);
      checkAccount(counters, 7);
    });
  }
});

Deno.test("a slow collector: backpressure, no drops, no retries", async () => {
  await withSink({ maxBatchSpans: 100 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior({ kind: "slow", delayMs: 300, times: 3 });
    for (let i = 0; i < 1000; i += 100) await sink.push(spans(100, i));
    await sink.flush(Date.now() + 10_000);
    strictEqual(receiver.spans.length, 1000);
    noDuplicates(receiver.spans);
    strictEqual(counters.dropped(), 0);
    strictEqual(counters.get("export_batches_retried"), 0);
  });
});

Deno.test("shutdown during an outage: what is left is dropped as export_shutdown, exactly", async () => {
  await withSink({}, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior("down");
    sink.push(spans(1234));
    await sink.shutdown(Date.now() + 200);
    strictEqual(counters.dropped("export_shutdown"), 1234);
    checkAccount(counters, 1234);
  });
});

// ---- spool -------------------------------------------------------------------

const silent = createLogger({ write: () => {} });

Deno.test("spool file format: header, checksums, round trip, damage detected", () => {
  const body = encodeOtlpTraceProto(spans(3), "1");
  const batch: EncodedBatch = { body, spans: 3, protocol: "http/protobuf", gzip: false };
  const file = encodeSpoolFile(batch);
  strictEqual(file.length, 32 + body.length);
  const back = decodeSpoolFile(file);
  ok(back.ok);
  deepStrictEqual(back.batch, batch);
  const h = parseSpoolHeader(file);
  ok(h.ok && h.spans === 3 && h.crc === crc32(body));
  strictEqual(crc32(new TextEncoder().encode("123456789")), 0xcbf43926); // the CRC-32 check value
  const flags = encodeSpoolFile({ ...batch, protocol: "http/json", gzip: true });
  const hf = parseSpoolHeader(flags);
  ok(hf.ok && hf.protocol === "http/json" && hf.gzip);
  // damage
  ok(!decodeSpoolFile(file.subarray(0, file.length - 1)).ok, "truncated payload");
  ok(!decodeSpoolFile(file.subarray(0, 20)).ok, "truncated header");
  const flipped = file.slice();
  flipped[40] ^= 1;
  deepStrictEqual(decodeSpoolFile(flipped), { ok: false, why: "payload checksum mismatch" });
  const badHeader = file.slice();
  badHeader[12] ^= 1;
  deepStrictEqual(decodeSpoolFile(badHeader), { ok: false, why: "header checksum mismatch" });
  deepStrictEqual(decodeSpoolFile(new Uint8Array(40)), { ok: false, why: "not a spool file" });
});

Deno.test("spool: an outage goes to disk (memory stays small); after a restart the spool is sent, oldest first, once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-spool-" });
  const receiver = await startOtlpReceiver({ behavior: "down" });
  try {
    // run 1: the collector is down; everything ends up in the spool
    const c1 = createCounters();
    const spool1 = await openSpool({ dir, counters: c1, logger: silent, sync: false });
    const a = createOtlpHttpSink({
      endpoint: receiver.url,
      counters: c1,
      logger: silent,
      spool: spool1,
      maxBatchSpans: 100,
      scheduleDelayMs: 10,
      initialBackoffMs: 20,
      maxBackoffMs: 50,
    });
    for (let i = 0; i < 3000; i += 100) {
      a.push(spans(100, i));
      await sleep(2);
    }
    await until(() => spool1.spans === 3000, "3000 spans in the spool");
    ok(a.heldSpans <= 100, `memory holds ${a.heldSpans} spans`);
    await a.shutdown(Date.now()); // nothing left in memory: nothing dropped
    strictEqual(c1.dropped(), 0);
    strictEqual(spanAccount(c1.snapshot()).pending, 3000);
    checkAccount(c1, 3000);
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    strictEqual(files.length, 30);
    ok(files.every((f) => /^\d{16}\.otlp$/.test(f)), files.join(" "));

    // run 2: the collector is back
    await receiver.setBehavior("ok");
    const c2 = createCounters();
    const spool2 = await openSpool({ dir, counters: c2, logger: silent, sync: false });
    strictEqual(c2.get("spool_spans_recovered"), 3000);
    strictEqual(c2.get("spool_batches_recovered"), 30);
    const b = createOtlpHttpSink({ endpoint: receiver.url, counters: c2, logger: silent, spool: spool2 });
    b.push(spans(10, 5000)); // new spans go after the spooled ones
    await b.flush(Date.now() + 10_000);
    noDuplicates(receiver.spans);
    strictEqual(receiver.spans.length, 3010);
    deepStrictEqual(receiver.spans.slice(0, 100).map((s) => s.spanId), spans(100).map((s) => s.spanId));
    deepStrictEqual(receiver.spans.slice(-10).map((s) => s.spanId), spans(10, 5000).map((s) => s.spanId));
    strictEqual([...Deno.readDirSync(dir)].length, 0, "sent files are deleted");
    await b.shutdown(Date.now() + 1000);
    checkAccount(c2, 10);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spool: damaged files (truncated, bad checksum, leftover temp) are counted and skipped; the rest is sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-spool-" });
  const receiver = await startOtlpReceiver();
  try {
    const file = (n: number, from: number) =>
      encodeSpoolFile({
        body: encodeOtlpTraceProto(spans(n, from), "1"),
        spans: n,
        protocol: "http/protobuf",
        gzip: false,
      });
    const name = (seq: number) => `${dir}/${String(seq).padStart(16, "0")}.otlp`;
    await Deno.writeFile(name(1), file(5, 0));
    const truncated = file(7, 100);
    await Deno.writeFile(name(2), truncated.subarray(0, truncated.length - 10)); // crash mid-write
    const flipped = file(4, 200);
    flipped[flipped.length - 3] ^= 0xff; // bit rot: found when it is read
    await Deno.writeFile(name(3), flipped);
    await Deno.writeFile(name(4), new TextEncoder().encode("garbage, not a spool file at all"));
    await Deno.writeFile(`${dir}/.${String(5).padStart(16, "0")}.otlp.1.0.tmp`, file(3, 300).subarray(0, 20));
    await Deno.writeFile(name(6), file(6, 400));
    await Deno.writeFile(`${dir}/unrelated.txt`, new Uint8Array(1)); // not ours: left alone

    const counters = createCounters();
    const logs: string[] = [];
    const logger = createLogger({ write: (l) => logs.push(l) });
    const spool = await openSpool({ dir, counters, logger, sync: false });
    strictEqual(counters.get("spool_corrupt_files"), 3, "truncated, not a spool file, temp");
    strictEqual(counters.dropped("spool_corrupt"), 7);
    strictEqual(spool.files, 3);
    const sink = createOtlpHttpSink({ endpoint: receiver.url, counters, logger, spool });
    await sink.flush(Date.now() + 5000);
    strictEqual(counters.get("spool_corrupt_files"), 4, "the bad checksum too, when read");
    strictEqual(counters.dropped("spool_corrupt"), 7 + 4);
    deepStrictEqual(ids(receiver.spans), [...spans(5, 0), ...spans(6, 400)].map((s) => s.spanId).sort());
    deepStrictEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["unrelated.txt"]);
    ok(logs.some((l) => l.includes("damaged") && l.includes("payload checksum mismatch")));
    await sink.shutdown(Date.now() + 1000);
    // recovered = exported + dropped: nothing silently lost
    const a = spanAccount(counters.snapshot());
    strictEqual(a.recovered, 5 + 7 + 4 + 6);
    strictEqual(a.unaccounted, 0);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spool: the byte cap refuses the newest batches, counted as spool_full", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-spool-" });
  const receiver = await startOtlpReceiver({ behavior: "down" });
  try {
    const counters = createCounters();
    const spool = await openSpool({ dir, counters, logger: silent, sync: false, maxBytes: 20_000 });
    const sink = createOtlpHttpSink({
      endpoint: receiver.url,
      counters,
      logger: silent,
      spool,
      maxBatchSpans: 50,
      initialBackoffMs: 20,
      maxBackoffMs: 50,
    });
    for (let i = 0; i < 2000; i += 50) {
      sink.push(spans(50, i));
      await sleep(1);
    }
    await sink.shutdown(Date.now() + 100);
    ok(spool.bytes <= 20_000, `${spool.bytes} bytes`);
    ok(counters.dropped("spool_full") > 0);
    strictEqual(spool.spans + counters.dropped("spool_full"), 2000);
    checkAccount(counters, 2000);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spool: shutdown during an outage spools what is held instead of dropping it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-spool-" });
  const receiver = await startOtlpReceiver();
  try {
    const counters = createCounters();
    const spool = await openSpool({ dir, counters, logger: silent, sync: false });
    // healthy at first: spans stay in memory (scheduled), then the collector goes away
    const sink = createOtlpHttpSink({ endpoint: receiver.url, counters, logger: silent, spool, scheduleDelayMs: 5000 });
    sink.push(spans(300));
    await receiver.setBehavior("down");
    strictEqual(spool.spans, 0);
    await sink.shutdown(Date.now() + 300);
    strictEqual(counters.dropped(), 0);
    strictEqual(spool.spans, 300);
    checkAccount(counters, 300);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

// ---- accounting, metrics, option parsing ---------------------------------------

Deno.test("spanAccount: produced + recovered = exported + dropped + open + pending", () => {
  const c = createCounters();
  c.inc("spans_ended", 100);
  c.gaugeAdd("open_spans", 3);
  c.gaugeAdd("open_spans", 2);
  c.inc("spool_spans_recovered", 10);
  c.inc("spans_exported", 80);
  c.drop("export_queue_full", 15);
  c.drop("ringbuf_full", 1000); // events, not spans
  c.gauge("export_queue_spans", 5);
  c.gauge("spool_spans", 10);
  deepStrictEqual(spanAccount(c.snapshot()), {
    produced: 105,
    recovered: 10,
    exported: 80,
    dropped: 15,
    open: 5,
    pending: 15,
    unaccounted: 0,
  });
  c.inc("spans_ended");
  strictEqual(spanAccount(c.snapshot()).unaccounted, 1);
});

Deno.test("prometheus text: counters, drops by reason, gauges, the invariant", () => {
  const c = createCounters();
  c.inc("spans_ended", 7);
  c.inc("spans_exported", 5);
  c.drop("export_http_400", 2);
  c.drop('we"ird\\reason', 0);
  c.gauge("export_queue_spans", 0);
  c.gauge("ringbuf.decode_errors.exec", 3);
  const text = prometheusText(c.snapshot());
  ok(text.includes("# TYPE spanprobe_spans_ended_total counter\nspanprobe_spans_ended_total 7\n"), text);
  ok(text.includes('spanprobe_spans_dropped_total{reason="export_http_400"} 2\n'));
  ok(text.includes('spanprobe_spans_dropped_total{reason="we\\"ird\\\\reason"} 0\n'));
  ok(text.includes("# TYPE spanprobe_export_queue_spans gauge\nspanprobe_export_queue_spans 0\n"));
  ok(text.includes("spanprobe_ringbuf_decode_errors_exec 3\n"));
  ok(text.includes("spanprobe_spans_unaccounted 0\n"));
  for (const line of text.trim().split("\n")) {
    ok(/^(# (HELP|TYPE) spanprobe_\w+ .+|spanprobe_\w+(\{reason="(?:[^"\\]|\\.)*"\})? -?\d+)$/.test(line), line);
  }
});

Deno.test("sizes, ports", () => {
  strictEqual(parseSize("1048576", "--queue-bytes"), 1048576);
  strictEqual(parseSize("64MiB", "--queue-bytes"), 64 * 1024 * 1024);
  strictEqual(parseSize("512k", "--queue-bytes"), 512 * 1024);
  strictEqual(parseSize("1.5G", "--queue-bytes"), 1.5 * 1024 ** 3);
  for (const bad of ["", "-1", "0", "12 parsecs", "MiB", "1e9"]) {
    let threw = false;
    try {
      parseSize(bad, "--queue-bytes");
    } catch (e) {
      threw = (e as { exitCode?: number }).exitCode === 2;
    }
    ok(threw, bad);
  }
  strictEqual(parsePort("9464", "--metrics-port"), 9464);
  for (const bad of ["0", "65536", "http", "-1", "80.5"]) {
    let threw = false;
    try {
      parsePort(bad, "--metrics-port");
    } catch {
      threw = true;
    }
    ok(threw, bad);
  }
});

Deno.test("config file: exporter bounds, spool, metrics port; bad values name the line", () => {
  const cfg = parseAgentConfig(
    "agent.yaml",
    "exporter:\n  queue_spans: 1000\n  queue_bytes: 8MiB\n  spool_dir: /var/lib/spanprobe/spool\n" +
      "  spool_max_bytes: 1GiB\nmetrics_port: 9464\n",
  );
  const { queueSpans, queueBytes, spoolDir, spoolMaxBytes, metricsPort } = cfg;
  deepStrictEqual({ queueSpans, queueBytes, spoolDir, spoolMaxBytes, metricsPort }, {
    queueSpans: 1000,
    queueBytes: 8 * 1024 * 1024,
    spoolDir: "/var/lib/spanprobe/spool",
    spoolMaxBytes: 1024 ** 3,
    metricsPort: 9464,
  });
  for (const [text, line] of [["exporter:\n  queue_bytes: lots\n", 2], ["metrics_port: 99999\n", 1]] as const) {
    let message = "";
    try {
      parseAgentConfig("agent.yaml", text);
    } catch (e) {
      message = (e as Error).message;
    }
    ok(message.includes(`agent.yaml:${line}`), message);
  }
});

Deno.test("permissions: the spool folder is the only extra writable path; metrics listen on loopback only", () => {
  const flags = permissionFlags(permissionsForRun([
    "--probe",
    "usdt-requests",
    "--binary",
    "/usr/bin/true",
    "--endpoint",
    "http://127.0.0.1:4318",
    "--spool-dir",
    "/var/lib/spanprobe/spool",
    "--metrics-port",
    "9464",
  ], () => undefined));
  ok(flags.includes("--allow-write=/var/lib/spanprobe/spool"), flags.join(" "));
  ok(flags.some((f) => f.startsWith("--allow-read=") && f.split(/[=,]/).includes("/var/lib/spanprobe/spool")));
  ok(flags.includes("--allow-net=127.0.0.1:4318,127.0.0.1:9464"), flags.join(" "));
  const plain = permissionFlags(
    permissionsForRun(["--probe", "usdt-requests", "--binary", "/usr/bin/true"], () => undefined),
  );
  ok(!plain.some((f) => f.startsWith("--allow-write") || f.startsWith("--allow-net")), plain.join(" "));
});
