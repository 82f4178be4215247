/**
 * Issue 10 item 8: a collector slower than the export timeout. Each timeout
 * is counted (`export_timeouts`), the batch is retried after a backoff like
 * any retry (no request before the backoff has passed), and since the slow
 * collector did process the timed-out requests the batch arrives more than
 * once: at-least-once, as docs/reliability.md says. Real loopback server.
 */
import assert, { strictEqual } from "node:assert/strict";
import { createOtlpHttpSink } from "../lib/export/otlp_http.ts";
import { createCounters, spanAccount } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import { type CollectorStub, collectorStub } from "./support/collector_stub.ts";
import { requestSpans } from "./support/spans.ts";

Deno.test("a collector slower than the timeout: timeouts counted, retried after a backoff, delivered at least once", async () => {
  const TIMEOUT_MS = 200;
  const INITIAL_BACKOFF_MS = 400;
  const SLOW = 2; // the first two requests are answered after the timeout
  const arrivals: { at: number; body: string }[] = [];
  const slowDone: Promise<void>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    arrivals.push({ at: performance.now(), body: Array.from(body.subarray(0, 64)).join(",") + `:${body.length}` });
    if (arrivals.length <= SLOW) {
      // processed (received) but answered too late: the client has given up
      const late = new Promise<void>((r) => setTimeout(r, TIMEOUT_MS * 3));
      slowDone.push(late);
      await late;
    }
    return new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
  });
  const counters = createCounters();
  const logs: string[] = [];
  const sink = createOtlpHttpSink({
    endpoint: `http://127.0.0.1:${server.addr.port}/v1/traces`,
    counters,
    logger: createLogger({ write: (l) => logs.push(l) }),
    timeoutMs: TIMEOUT_MS,
    initialBackoffMs: INITIAL_BACKOFF_MS,
    maxBackoffMs: 2000,
    maxConcurrentExports: 1,
    scheduleDelayMs: 10,
  });
  try {
    sink.push(requestSpans(50, "timeout-test"));
    await sink.flush(Date.now() + 20_000);
    strictEqual(counters.get("export_timeouts"), SLOW);
    strictEqual(counters.get("export_batches_retried"), SLOW);
    strictEqual(counters.get("spans_exported"), 50);
    strictEqual(arrivals.length, SLOW + 1, "the same batch, sent until answered in time");
    assert(arrivals.every((a) => a.body === arrivals[0].body), "every request carried the same batch");
    // backed off like any retry: the next request waits at least the jittered first step after the timeout
    for (let i = 1; i < arrivals.length; i++) {
      const gap = arrivals[i].at - arrivals[i - 1].at;
      assert(
        gap >= TIMEOUT_MS + INITIAL_BACKOFF_MS * 0.5,
        `retry ${i} came ${gap.toFixed(0)} ms after the previous one`,
      );
    }
    assert(logs.some((l) => l.includes("timed out") && l.includes("at-least-once")), logs.join("\n"));
    await sink.shutdown(Date.now() + 1000);
    const a = spanAccount(counters.snapshot());
    strictEqual(a.exported + a.dropped + a.pending, 50);
  } finally {
    await Promise.all(slowDone);
    await server.shutdown();
  }
});

/** A collector that answers `status` at once but never finishes the body (held until `close`). */
function stalledBodyServer(status: number): CollectorStub {
  const held: ReadableStreamDefaultController<Uint8Array>[] = [];
  const server = collectorStub(() => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        held.push(c); // the status line and headers go now; the body never ends
      },
    });
    return new Response(body, { status, headers: { "content-type": "application/x-protobuf" } });
  });
  return {
    url: server.url,
    get requests() {
      return server.requests;
    },
    async close() {
      for (const c of held) {
        try {
          c.close();
        } catch { /* cancelled by the client */ }
      }
      await server.close();
    },
  };
}

Deno.test("the status decides once it arrived: a timeout while reading a 2xx body is no timeout and no resend", async () => {
  const server = stalledBodyServer(200);
  const counters = createCounters();
  const sink = createOtlpHttpSink({
    endpoint: server.url,
    counters,
    logger: createLogger({ write: () => {} }),
    timeoutMs: 200,
    initialBackoffMs: 10,
    scheduleDelayMs: 10,
  });
  try {
    sink.push(requestSpans(20, "timeout-test"));
    await sink.flush(Date.now() + 20_000);
    strictEqual(counters.get("spans_exported"), 20, "the collector accepted the batch (its status said so)");
    strictEqual(counters.get("export_timeouts"), 0);
    strictEqual(counters.get("export_batches_retried"), 0);
    strictEqual(server.requests, 1, "sent once: no duplicate");
  } finally {
    await sink.shutdown(Date.now() + 1000);
    await server.close();
  }
});

Deno.test("the status decides once it arrived: a 400 whose body stalls is not retried as a timeout", async () => {
  const server = stalledBodyServer(400);
  const counters = createCounters();
  const sink = createOtlpHttpSink({
    endpoint: server.url,
    counters,
    logger: createLogger({ write: () => {} }),
    timeoutMs: 200,
    initialBackoffMs: 10,
    scheduleDelayMs: 10,
  });
  try {
    sink.push(requestSpans(5, "timeout-test"));
    await sink.flush(Date.now() + 20_000);
    strictEqual(counters.dropped("export_http_400"), 5);
    strictEqual(counters.get("export_timeouts"), 0);
    strictEqual(server.requests, 1, "a 400 is never retried");
  } finally {
    await sink.shutdown(Date.now() + 1000);
    await server.close();
  }
});
