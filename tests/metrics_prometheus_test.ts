/**
 * Prometheus text of the span metrics: names as the OpenTelemetry Prometheus
 * exporters write them, cross-checked sample by sample against the
 * `@opentelemetry/exporter-prometheus` serializer.
 */
import assert, { deepStrictEqual, strictEqual } from "node:assert/strict";
import { ValueType } from "@opentelemetry/api";
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationTemporality, DataPointType, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { ResourceMetricsData } from "../lib/metrics/metric_data.ts";
import { metricsPrometheusText, prometheusLabelName, prometheusMetricName } from "../lib/metrics/prometheus_text.ts";
import { createSpanMetrics } from "../lib/metrics/span_metrics.ts";
import type { Attributes } from "../lib/core/span_data.ts";
import { parsePrometheusText, sampleKey } from "./support/prometheus_text.ts";
import { span } from "./support/spans.ts";

Deno.test("prometheus names: dots to underscores, unit words, _total for counters", () => {
  strictEqual(
    prometheusMetricName("http.server.request.duration", "s", "histogram"),
    "http_server_request_duration_seconds",
  );
  strictEqual(prometheusMetricName("traces.span.metrics.calls", "{call}", "sum"), "traces_span_metrics_calls_total");
  strictEqual(
    prometheusMetricName("traces.span.metrics.duration", "s", "histogram"),
    "traces_span_metrics_duration_seconds",
  );
  strictEqual(prometheusMetricName("x.total", "", "sum"), "x_total");
  strictEqual(prometheusMetricName("a..b-c", "By", "histogram"), "a_b_c_bytes");
  strictEqual(prometheusMetricName("d_seconds", "s", "histogram"), "d_seconds");
  strictEqual(prometheusLabelName("http.response.status_code"), "http_response_status_code");
  strictEqual(prometheusLabelName("2fa"), "key_2fa");
  strictEqual(prometheusLabelName("otel.metric.overflow"), "otel_metric_overflow");
});

function sample(): ResourceMetricsData[] {
  let t = 1795313354907507123n;
  const m = createSpanMetrics({ cardinalityLimit: 3, nowNs: () => t += 1000n });
  const web = { attributes: { "service.name": "web" } };
  const http = { "http.request.method": "GET", "http.route": "/a/{id}", "http.response.status_code": 500 };
  m.record(span({ kind: 2, resource: web, name: 'say "hi"\\\n', attributes: http, status: { code: 2 } }));
  m.record(span({ kind: 2, resource: web, name: "b", endNs: span().startNs + 5_000_000n, attributes: http }));
  m.record(span({ kind: 2, resource: web, name: "b", endNs: span().startNs + 7_500_000_000n, attributes: http }));
  m.record(span({ name: "c" }));
  m.record(span({ name: "overflowing" }));
  return m.collect("cumulative");
}

/** One resource's metrics through the reference serializer (service.name as a constant label). */
function reference(r: ResourceMetricsData): string {
  const attrs = (a: Attributes) =>
    Object.fromEntries(Object.entries(a).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v]));
  const rm = {
    resource: resourceFromAttributes(attrs(r.resource)),
    scopeMetrics: [{
      scope: { name: "spanprobe" },
      metrics: r.metrics.map((m) => ({
        // the JS exporter leaves units out of names; the OpenTelemetry
        // compatibility spec (and the Go exporter, and OBI) add them: give it the unit word
        descriptor: {
          name: m.unit === "s" ? `${m.name}_seconds` : m.name,
          description: m.description,
          unit: "",
          valueType: m.type === "sum" ? ValueType.INT : ValueType.DOUBLE,
        },
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: m.type === "sum" ? DataPointType.SUM : DataPointType.HISTOGRAM,
        isMonotonic: true,
        dataPoints: m.points.map((p) => ({
          attributes: attrs(p.attributes),
          startTime: [0, 0],
          endTime: [0, 0],
          value: "value" in p ? p.value : {
            buckets: { boundaries: [...p.bounds], counts: p.bucketCounts },
            count: p.count,
            sum: p.sum,
          },
        })),
      })),
    }],
  };
  return new PrometheusSerializer(undefined, false, /^service\.name$/, true, true).serialize(
    rm as unknown as ResourceMetrics,
  );
}

Deno.test("prometheus text: every sample equal to @opentelemetry/exporter-prometheus's", () => {
  const batch = sample();
  for (const r of batch) {
    const ours = parsePrometheusText(metricsPrometheusText([r]));
    const ref = parsePrometheusText(reference(r));
    const byKey = (e: typeof ours) => new Map(e.samples.map((s) => [sampleKey(s), s.value]));
    deepStrictEqual(byKey(ours), byKey(ref), `resource ${JSON.stringify(r.resource)}`);
    deepStrictEqual(ours.types, ref.types);
    deepStrictEqual(ours.help, ref.help);
  }
});

Deno.test("prometheus text: histogram buckets cumulative with le, _sum, _count; labels escaped; overflow series", () => {
  const text = metricsPrometheusText(sample());
  const e = parsePrometheusText(text);
  strictEqual(e.types.get("http_server_request_duration_seconds"), "histogram");
  strictEqual(e.types.get("traces_span_metrics_calls_total"), "counter");
  const labels = {
    service_name: "web",
    http_request_method: "GET",
    http_route: "/a/{id}",
    http_response_status_code: "500",
    error_type: "500",
  };
  const find = (name: string, extra: Record<string, string> = {}) =>
    e.samples.find((s) => sampleKey(s) === sampleKey({ name, labels: { ...labels, ...extra } }))?.value;
  strictEqual(find("http_server_request_duration_seconds_count"), 3);
  strictEqual(find("http_server_request_duration_seconds_sum"), (876 + 5_000_000 + 7_500_000_000) / 1e9);
  strictEqual(find("http_server_request_duration_seconds_bucket", { le: "0" }), 0);
  strictEqual(find("http_server_request_duration_seconds_bucket", { le: "0.005" }), 2, "5 ms exactly is le=0.005");
  strictEqual(find("http_server_request_duration_seconds_bucket", { le: "5" }), 2);
  strictEqual(find("http_server_request_duration_seconds_bucket", { le: "7.5" }), 3);
  strictEqual(find("http_server_request_duration_seconds_bucket", { le: "+Inf" }), 3);
  const odd = e.samples.find((s) =>
    s.name === "traces_span_metrics_calls_total" && s.labels.span_name?.startsWith("say")
  );
  strictEqual(odd?.labels.span_name, 'say "hi"\\\n', "quotes, backslash and newline survive escaping");
  const overflow = e.samples.find((s) => s.labels.otel_metric_overflow === "true" && s.name.endsWith("calls_total"));
  strictEqual(overflow?.value, 1);
  assert(!("service_name" in overflow!.labels));
});
