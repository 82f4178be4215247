import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { createOtlpHttpSink, type OtlpHttpSinkOptions, sendOtlpRequest } from "../lib/export/otlp_http.ts";
import { resolveOtlpConfig } from "../lib/export/otlp_env.ts";
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import { gzipBytes } from "../lib/export/otlp_send.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import {
  expectedRequest,
  flattenSpans,
  type OtlpReceiver,
  sampleSpans,
  startOtlpReceiver,
} from "./support/otlp_receiver.ts";

const VERSION = "9.9.9";
const resource = { attributes: { "service.name": "http-test" } };

function spans(n: number, prefix = 0): SpanData[] {
  return Array.from({ length: n }, (_, i) => ({
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: (prefix * 100000 + i + 1).toString(16).padStart(16, "0"),
    name: `op ${i}`,
    kind: 1,
    startNs: 1795313354907507123n + BigInt(i),
    endNs: 1795313354907507123n + BigInt(i) + 1000n,
    attributes: { "i": i, "path": "/some/repetitive/path/for/compression" },
    status: { code: 0 },
    resource,
  }));
}

/** A receiver and a sink pointed at it, torn down after `body`. */
async function withSink(
  options: Partial<OtlpHttpSinkOptions>,
  body: (ctx: {
    receiver: OtlpReceiver;
    sink: ReturnType<typeof createOtlpHttpSink>;
    counters: ReturnType<typeof createCounters>;
    logs: string[];
  }) => Promise<void>,
): Promise<void> {
  const receiver = await startOtlpReceiver();
  const counters = createCounters();
  const logs: string[] = [];
  const sink = createOtlpHttpSink({
    endpoint: receiver.url,
    scopeVersion: VERSION,
    counters,
    logger: createLogger({ write: (l) => logs.push(l), level: "debug" }),
    initialBackoffMs: 10,
    ...options,
  });
  try {
    await body({ receiver, sink, counters, logs });
  } finally {
    await sink.shutdown(Date.now() + 2000);
    await receiver.close();
  }
}

function spanIds(received: { spanId: string }[]): string[] {
  return received.map((s) => s.spanId).sort();
}

Deno.test("http: protobuf batches arrive complete and exact", async () => {
  await withSink({}, async ({ receiver, sink, counters }) => {
    const input = sampleSpans();
    await sink.push(input);
    await sink.flush();
    strictEqual(receiver.requests.length, 1);
    const req = receiver.requests[0];
    strictEqual(req.contentType, "application/x-protobuf");
    strictEqual(req.contentEncoding, "");
    strictEqual(req.path, "/v1/traces");
    strictEqual(req.headers["user-agent"], `spanprobe/${VERSION}`);
    deepStrictEqual(req.decoded, expectedRequest(input, VERSION));
    strictEqual(counters.get("spans_exported"), input.length);
    strictEqual(counters.get("export_batches_ok"), 1);
    strictEqual(counters.dropped(), 0);
  });
});

Deno.test("http: JSON protocol", async () => {
  await withSink({ protocol: "http/json" }, async ({ receiver, sink, counters }) => {
    const input = sampleSpans();
    await sink.push(input);
    await sink.flush();
    const req = receiver.requests[0];
    strictEqual(req.contentType, "application/json");
    JSON.parse(new TextDecoder().decode(req.body));
    deepStrictEqual(req.decoded, expectedRequest(input, VERSION));
    strictEqual(counters.get("spans_exported"), input.length);
  });
});

Deno.test("http: gzip compression, protobuf and JSON", async () => {
  for (const protocol of ["http/protobuf", "http/json"] as const) {
    await withSink({ protocol, compression: "gzip" }, async ({ receiver, sink }) => {
      await sink.push(spans(200));
      await sink.flush();
      const req = receiver.requests[0];
      strictEqual(req.contentEncoding, "gzip");
      ok(req.wireBytes < req.bodyBytes / 3, `${protocol}: ${req.wireBytes} wire bytes for ${req.bodyBytes}`);
      deepStrictEqual(spanIds(receiver.spans), spanIds(spans(200)));
    });
  }
});

Deno.test("http: extra headers are sent; content headers cannot be overridden", async () => {
  await withSink({
    headers: { "Authorization": "Bearer s3cr3t", "X-Tenant": "team a", "Content-Type": "text/plain" },
  }, async ({ receiver, sink }) => {
    await sink.push(spans(1));
    await sink.flush();
    const h = receiver.requests[0].headers;
    strictEqual(h["authorization"], "Bearer s3cr3t");
    strictEqual(h["x-tenant"], "team a");
    strictEqual(h["content-type"], "application/x-protobuf");
    strictEqual(receiver.spans.length, 1);
  });
});

Deno.test("http: full batches go at once, the rest after the schedule delay", async () => {
  const delayMs = 3000;
  await withSink({ maxBatchSpans: 10, scheduleDelayMs: delayMs }, async ({ receiver, sink }) => {
    const started = performance.now();
    sink.push(spans(25));
    await receiver.waitForSpans(20, 20_000);
    // a batch that waited for the timer could not arrive before it fired (the delay is the test's own setting,
    // long enough that a loaded machine still sends two full batches well within it)
    ok(receiver.requests[1].arrivedAtPerf - started < delayMs, "full batches did not wait for the timer");
    strictEqual(receiver.spans.length, 20);
    await receiver.waitForSpans(25, 20_000);
    ok(receiver.requests[2].arrivedAtPerf - started >= delayMs - 10, "the partial batch waited for the timer");
    deepStrictEqual(receiver.requests.map((r) => r.spanCount), [10, 10, 5]);
  });
});

Deno.test("http: flush sends a partial batch at once", async () => {
  await withSink({ scheduleDelayMs: 60_000 }, async ({ receiver, sink }) => {
    sink.push(spans(3));
    await sink.flush(Date.now() + 2000);
    strictEqual(receiver.spans.length, 3);
  });
});

Deno.test("http: 503 is retried, then delivered once (no duplicates)", async () => {
  await withSink({}, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior([{ kind: "status", status: 503, times: 2 }]);
    sink.push(spans(7));
    await sink.flush(Date.now() + 5000);
    deepStrictEqual(receiver.requests.map((r) => r.status), [503, 503, 200]);
    strictEqual(receiver.spans.length, 7);
    deepStrictEqual(spanIds(receiver.spans), spanIds(spans(7)));
    strictEqual(counters.get("export_batches_retried"), 2);
    strictEqual(counters.get("export_batches_ok"), 1);
    strictEqual(counters.get("spans_exported"), 7);
    strictEqual(counters.dropped(), 0);
  });
});

Deno.test("http: 400 is not retried; the spans are counted as dropped", async () => {
  await withSink({}, async ({ receiver, sink, counters, logs }) => {
    await receiver.setBehavior({ kind: "status", status: 400, body: "bad things" });
    sink.push(spans(4));
    await sink.flush(Date.now() + 5000);
    strictEqual(receiver.requests.length, 1);
    strictEqual(receiver.spans.length, 0);
    strictEqual(counters.dropped("export_http_400"), 4);
    strictEqual(counters.get("export_batches_failed"), 1);
    strictEqual(counters.get("export_batches_retried"), 0);
    strictEqual(counters.get("spans_exported"), 0);
    ok(logs.some((l) => l.includes("OTLP export failed") && l.includes("bad things")), logs.join("\n"));
  });
});

Deno.test("http: Retry-After is honored", async () => {
  // the backoff is a minute (jittered ≥ 30 s): a retry before that can only follow Retry-After
  await withSink({ initialBackoffMs: 60_000, maxBackoffMs: 60_000 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior([{ kind: "status", status: 429, retryAfter: 1, times: 1 }]);
    sink.push(spans(2));
    await sink.flush(Date.now() + 5000);
    strictEqual(receiver.requests.length, 2);
    const gap = receiver.requests[1].arrivedAtPerf - receiver.requests[0].arrivedAtPerf;
    ok(gap >= 950, `waited ${gap} ms`);
    ok(gap < 30_000, `Retry-After replaced the backoff: waited ${gap} ms`);
    strictEqual(receiver.spans.length, 2);
    strictEqual(counters.get("export_batches_retried"), 1);
  });
});

Deno.test("http: gives up after maxAttempts", async () => {
  await withSink({ maxAttempts: 3 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior({ kind: "status", status: 502 });
    sink.push(spans(5));
    await sink.flush(Date.now() + 5000);
    strictEqual(receiver.requests.length, 3);
    strictEqual(counters.dropped("export_http_502"), 5);
    strictEqual(counters.get("export_batches_retried"), 2);
    strictEqual(counters.get("export_batches_failed"), 1);
  });
});

Deno.test("http: connection refused is retried until the receiver is back", async () => {
  await withSink({ maxAttempts: 10, initialBackoffMs: 40, maxBackoffMs: 100 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior("down");
    sink.push(spans(6));
    const flushed = sink.flush(Date.now() + 5000);
    await new Promise((r) => setTimeout(r, 150));
    strictEqual(receiver.requests.length, 0);
    await receiver.setBehavior("ok");
    await flushed;
    strictEqual(receiver.spans.length, 6);
    ok(counters.get("export_batches_retried") >= 1);
    strictEqual(counters.dropped(), 0);
  });
});

Deno.test("http: a receiver that stays down drops as export_network_error", async () => {
  await withSink({ maxAttempts: 2 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior("down");
    sink.push(spans(3));
    await sink.flush(Date.now() + 5000);
    strictEqual(counters.dropped("export_network_error"), 3);
  });
});

Deno.test("http: a slow answer past the timeout counts as export_timeout", async () => {
  await withSink({ timeoutMs: 100, maxAttempts: 1 }, async ({ receiver, sink, counters }) => {
    const slowMs = 60_000; // answered only when the receiver closes (it releases slow answers)
    await receiver.setBehavior({ kind: "slow", delayMs: slowMs });
    sink.push(spans(3));
    const started = performance.now();
    await sink.flush(Date.now() + 30_000);
    ok(performance.now() - started < slowMs, "did not wait for the slow answer");
    strictEqual(counters.dropped("export_timeout"), 3);
  });
});

Deno.test("http: partial success counts rejected spans (protobuf and JSON)", async () => {
  for (const protocol of ["http/protobuf", "http/json"] as const) {
    await withSink({ protocol }, async ({ receiver, sink, counters, logs }) => {
      await receiver.setBehavior({ kind: "partial", rejectedSpans: 2, errorMessage: "2 spans too old" });
      sink.push(spans(10));
      await sink.flush(Date.now() + 5000);
      strictEqual(receiver.requests.length, 1, protocol);
      strictEqual(counters.get("spans_exported"), 8, protocol);
      strictEqual(counters.dropped("export_rejected"), 2, protocol);
      strictEqual(counters.get("export_batches_ok"), 1, protocol);
      ok(logs.some((l) => l.includes("2 spans too old")), protocol);
    });
  }
});

Deno.test("http: a full queue refuses the newest spans", async () => {
  await withSink(
    { maxQueueSpans: 10, maxBatchSpans: 100, scheduleDelayMs: 60_000 },
    async ({ receiver, sink, counters }) => {
      sink.push(spans(6));
      sink.push(spans(9, 1));
      strictEqual(counters.dropped("export_queue_full"), 5);
      await sink.flush(Date.now() + 5000);
      strictEqual(receiver.spans.length, 10);
      deepStrictEqual(spanIds(receiver.spans), spanIds([...spans(6), ...spans(4, 1)]));
    },
  );
});

Deno.test("http: shutdown gives up at its deadline and counts what is left", async () => {
  await withSink({ maxAttempts: 100, initialBackoffMs: 50, maxBatchSpans: 4 }, async ({ receiver, sink, counters }) => {
    await receiver.setBehavior("down");
    sink.push(spans(10));
    const started = performance.now();
    await sink.shutdown(Date.now() + 300);
    const took = performance.now() - started;
    // without the deadline, 100 attempts with backoff (50 ms doubling to the 5 s cap) would take minutes
    ok(took < 10_000, `shutdown took ${took} ms`);
    strictEqual(counters.dropped(), 10);
    strictEqual(counters.get("spans_exported"), 0);
    sink.push(spans(2));
    strictEqual(counters.dropped("export_shutdown") >= 2, true);
  });
});

Deno.test("http: concurrent exports", async () => {
  await withSink(
    { maxBatchSpans: 5, maxConcurrentExports: 4, scheduleDelayMs: 10 },
    async ({ receiver, sink, counters }) => {
      // answers held until the receiver closes: one by one, a second request would never arrive
      await receiver.setBehavior({ kind: "slow", delayMs: 60_000 });
      sink.push(spans(20));
      const flushed = sink.flush(Date.now() + 60_000);
      const inFlight = await receiver.waitForRequests(4, 20_000);
      ok(inFlight.every((r) => r.status === 0), "four batches were in flight at once, none answered yet");
      await receiver.close(); // releases the held answers (200)
      await flushed;
      strictEqual(receiver.spans.length, 20);
      strictEqual(counters.get("export_batches_ok"), 4);
    },
  );
});

Deno.test("http: config from the environment drives a real export", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const env: Record<string, string> = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_COMPRESSION: "gzip",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=abc%20def,x-team=red",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=blue",
      OTEL_EXPORTER_OTLP_TIMEOUT: "2000",
    };
    const { config, warnings } = resolveOtlpConfig((name) => env[name]);
    deepStrictEqual(warnings, []);
    const sink = createOtlpHttpSink({ ...config, scopeVersion: VERSION });
    sink.push(spans(3));
    await sink.shutdown(Date.now() + 5000);
    const req = receiver.requests[0];
    strictEqual(req.contentType, "application/json");
    strictEqual(req.contentEncoding, "gzip");
    strictEqual(req.headers["api-key"], "abc def");
    strictEqual(req.headers["x-team"], "blue");
    strictEqual(receiver.spans.length, 3);
  } finally {
    await receiver.close();
  }
});

Deno.test("sendOtlpRequest: results for success, partial success, errors and no answer", async () => {
  const receiver = await startOtlpReceiver();
  const body = encodeOtlpTraceProto(spans(3), VERSION);
  const send = (extra: Partial<Parameters<typeof sendOtlpRequest>[0]> = {}) =>
    sendOtlpRequest({ url: receiver.url, protocol: "http/protobuf", body, ...extra });
  try {
    deepStrictEqual(await send(), { ok: true, status: 200, retryable: false });

    await receiver.setBehavior({ kind: "partial", rejectedSpans: 3, errorMessage: "nope" });
    deepStrictEqual(await send(), {
      ok: true,
      status: 200,
      retryable: false,
      rejectedSpans: 3,
      errorMessage: "nope",
    });

    await receiver.setBehavior({ kind: "status", status: 503, retryAfter: 7 });
    deepStrictEqual(await send(), {
      ok: false,
      status: 503,
      retryable: true,
      retryAfterMs: 7000,
      error: "http 503",
    });

    const date = new Date(Date.now() + 30_000).toUTCString();
    await receiver.setBehavior({ kind: "status", status: 429, retryAfter: date });
    const limited = await send();
    ok(
      limited.retryable && limited.retryAfterMs! > 25_000 && limited.retryAfterMs! <= 30_000,
      String(limited.retryAfterMs),
    );

    await receiver.setBehavior({ kind: "status", status: 413, body: "too big" });
    deepStrictEqual(await send(), {
      ok: false,
      status: 413,
      retryable: false,
      errorMessage: "too big",
      error: "http 413",
    });

    await receiver.setBehavior("ok");
    const gz = await sendOtlpRequest({
      url: receiver.url,
      protocol: "http/protobuf",
      body: await gzipBytes(body),
      gzip: true,
    });
    strictEqual(gz.ok, true);
    deepStrictEqual(flattenSpans(receiver.requests.at(-1)!.decoded!).length, 3);

    await receiver.setBehavior("down");
    const refused = await send();
    strictEqual(refused.ok, false);
    strictEqual(refused.status, 0);
    strictEqual(refused.retryable, true);
    ok(refused.error?.startsWith("network"), refused.error);

    const aborted = new AbortController();
    aborted.abort();
    await receiver.setBehavior("ok");
    deepStrictEqual(await send({ signal: aborted.signal }), {
      ok: false,
      status: 0,
      retryable: false,
      error: "aborted",
    });
  } finally {
    await receiver.close();
  }
});
