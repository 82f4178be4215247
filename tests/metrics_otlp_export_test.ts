/**
 * OTLP metrics export to a real loopback receiver: settings from flags and
 * the environment, delivery, retries through an outage, cumulative
 * collections superseding each other, delta ones queued, and the flush
 * deadline.
 */
import assert, { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { resolveMetrics } from "../lib/metrics/metrics_config.ts";
import { createOtlpMetricsExporter } from "../lib/metrics/otlp_metrics_exporter.ts";
import { createSpanMetrics } from "../lib/metrics/span_metrics.ts";
import { UserError } from "../lib/core/errors.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { silentLogger } from "../lib/telemetry/log.ts";
import { type DecodedMetricsRequest, flattenPoints } from "./support/otlp_metrics.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { span } from "./support/spans.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("resolveMetrics: default mode, URL precedence, temporality, interval", () => {
  const none = envOf({});
  strictEqual(resolveMetrics({ collector: true, prometheusPort: true, env: none }).mode, "both");
  strictEqual(resolveMetrics({ collector: false, prometheusPort: true, env: none }).mode, "prometheus");
  strictEqual(resolveMetrics({ collector: false, prometheusPort: false, env: none }).prometheus, false);
  const base = resolveMetrics({ collector: true, prometheusPort: false, env: none }).otlp!;
  deepStrictEqual([base.endpoint, base.protocol, base.temporality, base.intervalMs], [
    "http://localhost:4318/v1/metrics",
    "http/protobuf",
    "cumulative",
    60_000,
  ]);
  const env = envOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://m:9/custom",
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "http/protobuf",
    OTEL_EXPORTER_OTLP_METRICS_HEADERS: "x-m=1",
    OTEL_EXPORTER_OTLP_HEADERS: "x-all=2",
    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "Delta",
    OTEL_METRIC_EXPORT_INTERVAL: "1500",
  });
  const m = resolveMetrics({ mode: "otlp", collector: true, prometheusPort: false, env }).otlp!;
  strictEqual(m.endpoint, "http://m:9/custom", "the signal-specific URL is used as is");
  strictEqual(m.protocol, "http/protobuf", "the metrics protocol, not the traces one");
  deepStrictEqual(m.headers, { "x-all": "2", "x-m": "1" });
  strictEqual(m.temporality, "delta");
  strictEqual(m.intervalMs, 1500);
  strictEqual(
    resolveMetrics({ mode: "both", collector: true, prometheusPort: true, endpoint: "http://flag:1/", env }).otlp!
      .endpoint,
    "http://flag:1/v1/metrics",
    "--endpoint wins",
  );
  strictEqual(
    resolveMetrics({ collector: true, prometheusPort: true, env: envOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:1" }) })
      .otlp!.endpoint,
    "http://c:1/v1/metrics",
  );
  strictEqual(
    resolveMetrics({
      collector: true,
      prometheusPort: true,
      env: envOf({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "lowmemory" }),
    }).otlp!.temporality,
    "delta",
  );
  strictEqual(resolveMetrics({ mode: "off", collector: true, prometheusPort: true, env }).otlp, undefined);
});

Deno.test("resolveMetrics: an unusable flag is a usage error naming it", () => {
  const cases: [Parameters<typeof resolveMetrics>[0], RegExp][] = [
    [{ mode: "all", collector: true, prometheusPort: true, env: envOf({}) }, /--metrics all: expected one of off/],
    [{ mode: "prometheus", collector: false, prometheusPort: false, env: envOf({}) }, /--metrics-port/],
    [
      { collector: true, prometheusPort: false, endpoint: "ftp://user:secret@x", env: envOf({}) },
      /--endpoint: only http and https endpoints are supported/,
    ],
    [{ collector: true, prometheusPort: false, protocol: "grpc", env: envOf({}) }, /--protocol: grpc is not supported/],
  ];
  for (const [input, re] of cases) {
    throws(() => resolveMetrics(input), (e: unknown) => {
      assert(e instanceof UserError && e.exitCode === 2 && re.test(e.message), String(e));
      assert(!e.message.includes("secret"), "no credential in the message");
      return true;
    });
  }
});

Deno.test("resolveMetrics: an unusable variable is ignored with a warning naming it; the next source applies", () => {
  const plan = resolveMetrics({
    collector: true,
    prometheusPort: false,
    env: envOf({
      OTEL_METRIC_EXPORT_INTERVAL: "10s",
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "sometimes",
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "ftp://user:secret@x",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: "grpc",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    }),
  });
  const o = plan.otlp!;
  deepStrictEqual([o.intervalMs, o.temporality, o.endpoint, o.protocol], [
    60_000,
    "cumulative",
    "http://c:4318/v1/metrics",
    "http/json",
  ]);
  const text = plan.warnings.join("\n");
  for (
    const re of [
      /OTEL_METRIC_EXPORT_INTERVAL: expected a positive number of milliseconds.*ignored/,
      /OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: expected cumulative, delta or lowmemory.*ignored/,
      /OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: only http and https.*ignored/,
      /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: grpc is not supported.*ignored/,
    ]
  ) assert(re.test(text), `${re} in ${text}`);
  assert(!text.includes("secret"), "no credential in a warning");
});

function callsOf(req: DecodedMetricsRequest): bigint {
  return flattenPoints(req).filter((p) => p.metric === "traces.span.metrics.calls").reduce((a, p) => a + p.value, 0n);
}

async function withExporter(
  temporality: "cumulative" | "delta",
  protocol: "http/protobuf" | "http/json",
  fn: (x: {
    receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
    metrics: ReturnType<typeof createSpanMetrics>;
    exporter: ReturnType<typeof createOtlpMetricsExporter>;
    counters: ReturnType<typeof createCounters>;
  }) => Promise<void>,
  behavior: "ok" | "down" = "ok",
) {
  const receiver = await startOtlpReceiver({ behavior });
  const metrics = createSpanMetrics();
  const counters = createCounters();
  const exporter = createOtlpMetricsExporter({
    metrics,
    url: `${receiver.baseUrl}/v1/metrics`,
    protocol,
    compression: protocol === "http/json" ? "gzip" : "none",
    temporality,
    intervalMs: 3_600_000, // collections are triggered by the test
    counters,
    logger: silentLogger,
    random: () => 0,
  });
  try {
    await fn({ receiver, metrics, exporter, counters });
  } finally {
    await exporter.shutdown(Date.now());
    await receiver.close();
  }
}

for (const protocol of ["http/protobuf", "http/json"] as const) {
  Deno.test(`metrics exporter (${protocol}): a collection arrives decoded at /v1/metrics`, async () => {
    await withExporter("cumulative", protocol, async ({ receiver, metrics, exporter, counters }) => {
      for (let i = 0; i < 5; i++) metrics.record(span({ name: "op" }));
      await exporter.collectNow();
      const [req] = await receiver.waitForMetricRequests(1);
      strictEqual(callsOf(req), 5n);
      strictEqual(req.resourceMetrics[0].scopeMetrics[0].scope.name, "spanprobe");
      strictEqual(receiver.requests.length, 0, "metrics requests are kept apart from trace requests");
      await exporter.shutdown(Date.now() + 5000);
      strictEqual(counters.get("metrics_exports_ok"), 2, "the shutdown collection is sent too");
      strictEqual(callsOf(receiver.metricRequests[1]), 5n, "cumulative: the totals again");
    });
  });
}

Deno.test("metrics exporter: retries through an outage; a newer cumulative collection supersedes the unsent one", async () => {
  await withExporter("cumulative", "http/protobuf", async ({ receiver, metrics, exporter, counters }) => {
    metrics.record(span());
    await exporter.collectNow();
    metrics.record(span());
    await exporter.collectNow();
    await receiver.setBehavior("ok");
    const [first] = await receiver.waitForMetricRequests(1, 15_000);
    strictEqual(callsOf(first), 2n, "the newest totals, sent once the endpoint answers");
    await exporter.shutdown(Date.now() + 5000);
    strictEqual(receiver.metricRequests.length, 2, "the superseded collection was never sent");
    strictEqual(counters.get("metrics_exports_failed"), 0, "nothing lost: cumulative totals include it");
  }, "down");
});

Deno.test("metrics exporter: delta collections are queued through an outage and each delivered once", async () => {
  await withExporter("delta", "http/protobuf", async ({ receiver, metrics, exporter }) => {
    for (let i = 0; i < 2; i++) metrics.record(span());
    await exporter.collectNow();
    for (let i = 0; i < 3; i++) metrics.record(span());
    await exporter.collectNow();
    await receiver.setBehavior("ok");
    const reqs = await receiver.waitForMetricRequests(2, 15_000);
    deepStrictEqual(reqs.map(callsOf), [2n, 3n]);
    assert(flattenPoints(reqs[0]).every((p) => p.temporality === 1), "DELTA");
    await exporter.shutdown(Date.now() + 5000);
    strictEqual(receiver.metricRequests.length, 2, "nothing new at shutdown: no empty request");
  }, "down");
});

Deno.test("metrics exporter: what is unsent at the flush deadline is counted", async () => {
  await withExporter("cumulative", "http/protobuf", async ({ metrics, exporter, counters }) => {
    metrics.record(span());
    strictEqual(exporter.failure(), undefined, "nothing tried yet");
    await exporter.shutdown(Date.now() + 300);
    strictEqual(counters.get("metrics_exports_failed"), 1);
    strictEqual(counters.get("metrics_exports_ok"), 0);
    assert(/^unreachable: /.test(exporter.failure() ?? ""), exporter.failure());
  }, "down");
});
