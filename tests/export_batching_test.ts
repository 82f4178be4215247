import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { backoffDelayMs, sleep } from "../lib/core/backoff.ts";
import { createBatchWorker, type ExportContext } from "../lib/export/batch_worker.ts";
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

function recorder(opts: { delayMs?: number } = {}) {
  const batches: number[][] = [];
  const drops: Record<string, number> = {};
  const contexts: ExportContext[] = [];
  const deadlines: (number | undefined)[] = [];
  return {
    batches,
    drops,
    contexts,
    deadlines,
    exportBatch: async (batch: SpanData[], ctx: ExportContext) => {
      contexts.push(ctx);
      deadlines.push(ctx.deadline);
      if (opts.delayMs) await sleep(opts.delayMs, ctx.signal);
      batches.push(names(batch));
    },
    drop: (reason: string, n: number) => drops[reason] = (drops[reason] ?? 0) + n,
  };
}

Deno.test("worker: full batches leave at once, partial ones after the delay, flush sends the rest", async () => {
  const r = recorder();
  const w = createBatchWorker({ maxBatchSpans: 3, scheduleDelayMs: 60_000, maxQueueSpans: 100, ...r });
  w.push(spans(7));
  await sleep(10);
  deepStrictEqual(r.batches, [[0, 1, 2], [3, 4, 5]]);
  strictEqual(w.queued, 1);
  await w.flush();
  deepStrictEqual(r.batches, [[0, 1, 2], [3, 4, 5], [6]]);
  await w.shutdown();
  deepStrictEqual(r.drops, {});
});

Deno.test("worker: the schedule delay sends a partial batch without flush", async () => {
  const r = recorder();
  const w = createBatchWorker({ maxBatchSpans: 100, scheduleDelayMs: 30, maxQueueSpans: 100, ...r });
  w.push(spans(2));
  w.push(spans(1, 2));
  strictEqual(r.batches.length, 0);
  const started = performance.now();
  while (r.batches.length === 0 && performance.now() - started < 3000) await sleep(5);
  ok(performance.now() - started >= 20);
  deepStrictEqual(r.batches, [[0, 1, 2]]);
  await w.shutdown();
});

Deno.test("worker: at most maxConcurrent exports in flight, in order", async () => {
  const r = recorder({ delayMs: 30 });
  let peak = 0;
  const w = createBatchWorker({
    maxBatchSpans: 2,
    scheduleDelayMs: 5,
    maxQueueSpans: 100,
    maxConcurrent: 2,
    drop: r.drop,
    exportBatch: async (b, ctx) => {
      peak = Math.max(peak, w.active);
      await r.exportBatch(b, ctx);
    },
  });
  w.push(spans(9));
  await w.flush();
  strictEqual(peak, 2);
  deepStrictEqual(r.batches.flat().sort((a, b) => a - b), range(0, 9));
  await w.shutdown();
});

Deno.test("worker: flush passes its deadline to exports and returns by it", async () => {
  const r = recorder({ delayMs: 5_000 });
  const w = createBatchWorker({ maxBatchSpans: 10, scheduleDelayMs: 5, maxQueueSpans: 100, ...r });
  w.push(spans(3));
  const deadline = Date.now() + 100;
  const started = performance.now();
  await w.flush(deadline);
  ok(performance.now() - started < 1000);
  deepStrictEqual(r.deadlines, [deadline]);
  strictEqual(r.contexts[0].deadline, undefined); // no flush pending any more
  await w.shutdown(Date.now() + 50);
  strictEqual(r.contexts[0].signal.aborted, true);
});

Deno.test("worker: shutdown drops what is still queued and refuses later pushes", async () => {
  const r = recorder({ delayMs: 5_000 });
  const w = createBatchWorker({ maxBatchSpans: 2, scheduleDelayMs: 5, maxQueueSpans: 100, ...r });
  w.push(spans(6));
  await w.shutdown(Date.now() + 50);
  // One batch was in flight (cancelled: the export decides how to count it), two were still queued.
  deepStrictEqual(r.drops, { export_shutdown: 4 });
  w.push(spans(5));
  deepStrictEqual(r.drops, { export_shutdown: 9 });
  strictEqual(w.queued, 0);
  strictEqual(w.active, 0);
});

Deno.test("worker: an export that throws drops its batch and the worker goes on", async () => {
  const drops: Record<string, number> = {};
  const errors: unknown[] = [];
  const seen: number[][] = [];
  const w = createBatchWorker({
    maxBatchSpans: 2,
    scheduleDelayMs: 5,
    maxQueueSpans: 100,
    drop: (reason, n) => drops[reason] = (drops[reason] ?? 0) + n,
    onExportError: (e) => errors.push(e),
    exportBatch: (b) => {
      if (b[0].name === "0") throw new Error("boom");
      seen.push(names(b));
      return Promise.resolve();
    },
  });
  w.push(spans(4));
  await w.flush();
  deepStrictEqual(drops, { export_internal_error: 2 });
  deepStrictEqual(seen, [[2, 3]]);
  strictEqual(errors.length, 1);
  await w.shutdown();
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
