import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { backoffDelayMs, sleep } from "../lib/core/backoff.ts";
import { createReliableExporter, type ReliableExporterOptions } from "../lib/export/reliable_exporter.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { silentLogger } from "../lib/telemetry/log.ts";
import { parseErrorMessage, parseExportResponse, parseRetryAfter } from "../lib/export/otlp_response.ts";
import { createSpanQueue } from "../lib/export/span_queue.ts";
import type { SpanData } from "../lib/core/span_data.ts";

const resource = { attributes: {} };
function spans(n: number, from = 0): SpanData[] {
  return Array.from({ length: n }, (_, i) => ({
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: (from + i + 1).toString(16).padStart(16, "0"),
    name: String(from + i),
    kind: 1,
    startNs: 0n,
    endNs: 1n,
    attributes: {},
    status: { code: 0 },
    resource,
  }));
}
const names = (s: SpanData[]) => s.map((x) => Number(x.name));
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

Deno.test("queue: FIFO across pushes, bounded, refusing the newest", () => {
  const q = createSpanQueue(10);
  strictEqual(q.push(spans(4)), 4);
  strictEqual(q.push(spans(4, 4)), 4);
  strictEqual(q.push(spans(5, 8)), 2);
  strictEqual(q.push(spans(1, 13)), 0);
  strictEqual(q.size, 10);
  deepStrictEqual(names(q.take(3)), [0, 1, 2]);
  deepStrictEqual(names(q.take(4)), [3, 4, 5, 6]);
  strictEqual(q.push(spans(2, 20)), 2);
  deepStrictEqual(names(q.take(100)), [7, 8, 9, 20, 21]);
  deepStrictEqual(q.take(1), []);
  strictEqual(q.size, 0);
  q.push(spans(3));
  strictEqual(q.clear(), 3);
  strictEqual(q.size, 0);
});

Deno.test("queue: keeps no reference to the caller's array", () => {
  const q = createSpanQueue(10);
  const batch = spans(3);
  q.push(batch);
  batch.length = 0;
  deepStrictEqual(names(q.take(10)), [0, 1, 2]);
});

Deno.test("queue: many single-span pushes stay linear", () => {
  const q = createSpanQueue(200_000);
  const one = spans(1);
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) q.push(one);
  let taken = 0;
  while (q.size) taken += q.take(7).length;
  strictEqual(taken, 100_000);
  ok(performance.now() - started < 2000);
});

Deno.test("backoff: grows, caps, jitters within [0.5, 1) of the step", () => {
  const opts = { initialMs: 100, maxMs: 1000 };
  deepStrictEqual(
    [1, 2, 3, 4, 5, 6].map((r) => backoffDelayMs(r, { ...opts, random: () => 0.999999 })),
    [100, 200, 400, 800, 1000, 1000],
  );
  deepStrictEqual([1, 2, 3].map((r) => backoffDelayMs(r, { ...opts, random: () => 0 })), [50, 100, 200]);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelayMs(3, opts);
    ok(d >= 200 && d <= 400, String(d));
  }
});

Deno.test("sleep: resolves true, or false at once when aborted", async () => {
  strictEqual(await sleep(5), true);
  const c = new AbortController();
  const started = performance.now();
  const p = sleep(10_000, c.signal);
  c.abort();
  strictEqual(await p, false);
  ok(performance.now() - started < 1000);
  strictEqual(await sleep(10_000, c.signal), false);
});

/**
 * The exporter core with an in-process destination that records what it was
 * sent: each batch's span names, the deadline and signal of each send. A send
 * takes `delayMs` (cut short by its signal: then it reports "aborted", as a
 * cancelled request does).
 */
function recorder(opts: { delayMs?: number; fail?: (names: number[]) => boolean } = {}) {
  const batches: number[][] = [];
  const signals: AbortSignal[] = [];
  const deadlines: (number | undefined)[] = [];
  const encoded = new WeakMap<Uint8Array, number[]>();
  const counters = createCounters();
  let active = 0;
  let peak = 0;
  const core = (o: Partial<ReliableExporterOptions>) =>
    createReliableExporter({
      encode(batch) {
        const body = new Uint8Array(batch.length * 10);
        encoded.set(body, names(batch));
        return { body, spans: batch.length, protocol: "http/json", gzip: false };
      },
      async send(batch, signal, deadline) {
        signals.push(signal);
        deadlines.push(deadline);
        peak = Math.max(peak, ++active);
        try {
          const got = encoded.get(batch.body)!;
          if (opts.fail?.(got)) throw new Error("boom");
          if (opts.delayMs && !await sleep(opts.delayMs, signal)) {
            return { ok: false, status: 0, retryable: true, error: "aborted" };
          }
          batches.push(got);
          return { ok: true, status: 0, retryable: false };
        } finally {
          active--;
        }
      },
      dropReason: () => "export_test_error",
      counters,
      logger: silentLogger,
      ...o,
    });
  return {
    batches,
    signals,
    deadlines,
    counters,
    core,
    drops: () => counters.snapshot().dropped,
    get peak() {
      return peak;
    },
  };
}

Deno.test("core: full batches leave at once, partial ones after the delay, flush sends the rest", async () => {
  const r = recorder();
  const w = r.core({ maxBatchSpans: 3, scheduleDelayMs: 60_000, maxQueueSpans: 100 });
  w.push(spans(7));
  const started = performance.now();
  while (r.batches.length < 2 && performance.now() - started < 3000) await sleep(1);
  deepStrictEqual(r.batches, [[0, 1, 2], [3, 4, 5]]);
  strictEqual(w.heldSpans, 1);
  await w.flush();
  deepStrictEqual(r.batches, [[0, 1, 2], [3, 4, 5], [6]]);
  await w.shutdown();
  deepStrictEqual(r.drops(), {});
});

Deno.test("core: the schedule delay sends a partial batch without flush", async () => {
  const r = recorder();
  const w = r.core({ maxBatchSpans: 100, scheduleDelayMs: 30, maxQueueSpans: 100 });
  w.push(spans(2));
  w.push(spans(1, 2));
  strictEqual(r.batches.length, 0);
  const started = performance.now();
  while (r.batches.length === 0 && performance.now() - started < 3000) await sleep(5);
  ok(performance.now() - started >= 20);
  deepStrictEqual(r.batches, [[0, 1, 2]]);
  await w.shutdown();
});

Deno.test("core: at most maxConcurrent sends in flight; every span sent once", async () => {
  const r = recorder({ delayMs: 30 });
  const w = r.core({ maxBatchSpans: 2, scheduleDelayMs: 5, maxQueueSpans: 100, maxConcurrent: 2 });
  w.push(spans(9));
  await w.flush();
  strictEqual(r.peak, 2);
  deepStrictEqual(r.batches.flat().sort((a, b) => a - b), range(0, 9));
  await w.shutdown();
});

Deno.test("core: flush passes its deadline to sends and returns by it; shutdown aborts the send", async () => {
  const r = recorder({ delayMs: 5_000 });
  const w = r.core({ maxBatchSpans: 10, scheduleDelayMs: 5, maxQueueSpans: 100 });
  w.push(spans(3));
  const deadline = Date.now() + 100;
  const started = performance.now();
  await w.flush(deadline);
  // returns by its 100 ms deadline, not after the 5 s send (slack for a loaded machine)
  ok(performance.now() - started < 4000);
  deepStrictEqual(r.deadlines, [deadline]);
  await w.shutdown(Date.now() + 50);
  strictEqual(r.signals[0].aborted, true);
});

Deno.test("core: shutdown drops what is still held and refuses later pushes", async () => {
  const r = recorder({ delayMs: 5_000 });
  const w = r.core({ maxBatchSpans: 2, scheduleDelayMs: 5, maxQueueSpans: 100 });
  w.push(spans(6));
  await w.shutdown(Date.now() + 50);
  // One batch was in flight (cancelled: back in memory), two were still queued: all dropped, none sent.
  deepStrictEqual(r.drops(), { export_shutdown: 6 });
  deepStrictEqual(r.batches, []);
  w.push(spans(5));
  deepStrictEqual(r.drops(), { export_shutdown: 11 });
  strictEqual(w.heldSpans, 0);
});

Deno.test("core: a send that throws drops its batch and the exporter goes on", async () => {
  const r = recorder({ fail: (got) => got[0] === 0 });
  const w = r.core({ maxBatchSpans: 2, scheduleDelayMs: 5, maxQueueSpans: 100 });
  w.push(spans(4));
  await w.flush();
  deepStrictEqual(r.drops(), { export_internal_error: 2 });
  deepStrictEqual(r.batches, [[2, 3]]);
  await w.shutdown();
});

Deno.test("core: a refused batch is dropped with the sink's reason; the byte bound refuses the newest", async () => {
  const r = recorder();
  const refusing = createReliableExporter({
    encode: (batch) => ({
      body: new Uint8Array(100 * batch.length),
      spans: batch.length,
      protocol: "http/json",
      gzip: false,
    }),
    send: () => Promise.resolve({ ok: false, status: 0, retryable: false, error: "disk full" }),
    dropReason: () => "export_test_error",
    maxBatchSpans: 2,
    counters: r.counters,
    logger: silentLogger,
  });
  refusing.push(spans(3));
  await refusing.flush();
  deepStrictEqual(r.drops(), { export_test_error: 3 });
  strictEqual(r.counters.get("export_batches_failed"), 2);
  await refusing.shutdown();

  // queued spans count against maxQueueBytes at the encoded size per span learned so far
  const bounded = r.core({ maxBatchSpans: 50, scheduleDelayMs: 60_000, maxQueueBytes: 1_000 });
  bounded.push(spans(5));
  await bounded.flush();
  strictEqual(bounded.heldSpans, 0);
  bounded.push(spans(30, 5));
  ok(r.drops().export_queue_full > 0, JSON.stringify(r.drops()));
  ok(bounded.heldBytes <= 1_000, `${bounded.heldBytes}`);
  await bounded.shutdown();
});

Deno.test("response: partial success from protobuf and JSON; error messages; Retry-After", () => {
  // ExportTraceServiceResponse { partial_success { rejected_spans: 300, error_message: "old" } }
  const proto = new Uint8Array([0x0a, 0x08, 0x08, 0xac, 0x02, 0x12, 0x03, 0x6f, 0x6c, 0x64]);
  deepStrictEqual(parseExportResponse(proto, "application/x-protobuf"), { rejectedSpans: 300, errorMessage: "old" });
  deepStrictEqual(parseExportResponse(new Uint8Array(0), "application/x-protobuf"), {});
  const enc = new TextEncoder();
  deepStrictEqual(
    parseExportResponse(
      enc.encode(`{"partialSuccess":{"rejectedSpans":"5","errorMessage":"x"}}`),
      "application/json; charset=utf-8",
    ),
    { rejectedSpans: 5, errorMessage: "x" },
  );
  deepStrictEqual(parseExportResponse(enc.encode(`{"partialSuccess":{}}`), "application/json"), {});
  deepStrictEqual(parseExportResponse(enc.encode(`{}`), "application/json"), {});
  deepStrictEqual(parseExportResponse(enc.encode(`not json`), "application/json"), {});
  deepStrictEqual(parseExportResponse(new Uint8Array([0x0a, 0x05, 0x08]), null), {});

  // google.rpc.Status { code: 3, message: "bad" }
  const status = new Uint8Array([0x08, 0x03, 0x12, 0x03, 0x62, 0x61, 0x64]);
  strictEqual(parseErrorMessage(status, "application/x-protobuf"), "bad");
  strictEqual(parseErrorMessage(enc.encode(`{"code":3,"message":"bad json"}`), "application/json"), "bad json");
  strictEqual(parseErrorMessage(enc.encode("plain\n  text"), "text/plain"), "plain text");
  strictEqual(parseErrorMessage(new Uint8Array(0), "text/plain"), undefined);

  strictEqual(parseRetryAfter("3"), 3000);
  strictEqual(parseRetryAfter(" 0 "), 0);
  strictEqual(parseRetryAfter("1.5"), 1500);
  strictEqual(parseRetryAfter(null), undefined);
  strictEqual(parseRetryAfter("soon"), undefined);
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  strictEqual(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30_000);
  strictEqual(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
});
