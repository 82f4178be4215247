/**
 * The OTLP metrics encoders (protobuf and JSON) against the reference
 * serializers of `@opentelemetry/otlp-transformer`: the same metrics, decoded
 * from both, must be equal field by field.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { ValueType } from "@opentelemetry/api";
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AggregationTemporality, DataPointType, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import type { ResourceMetricsData, Temporality } from "../lib/metrics/metric_data.ts";
import { encodeOtlpMetricsJson } from "../lib/metrics/otlp_metrics_json.ts";
import { encodeOtlpMetricsProto } from "../lib/metrics/otlp_metrics_proto.ts";
import { createSpanMetrics } from "../lib/metrics/span_metrics.ts";
import type { Attributes, SpanData } from "../lib/core/span_data.ts";
import { decodeMetricsRequestJson, decodeMetricsRequestProto, flattenPoints } from "./support/otlp_metrics.ts";
import { span } from "./support/spans.ts";

const VERSION = "0.1.0";
const T0 = 1795313354907507123n;

function hrTime(ns: bigint): [number, number] {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

function refAttributes(a: Attributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const k in a) {
    const v = a[k];
    out[k] = typeof v === "bigint" ? Number(v) : v as string | number | boolean;
  }
  return out;
}

/** The same metrics as the OpenTelemetry JS SDK's `ResourceMetrics` (one per resource). */
function toReference(batch: ResourceMetricsData[]): ResourceMetrics[] {
  return batch.map((r) => ({
    resource: resourceFromAttributes(refAttributes(r.resource)),
    scopeMetrics: [{
      scope: { name: "spanprobe", version: VERSION },
      metrics: r.metrics.map((m) => {
        const aggregationTemporality = m.temporality === "delta"
          ? AggregationTemporality.DELTA
          : AggregationTemporality.CUMULATIVE;
        const descriptor = {
          name: m.name,
          description: m.description,
          unit: m.unit,
          valueType: m.type === "sum" ? ValueType.INT : ValueType.DOUBLE,
        };
        if (m.type === "sum") {
          return {
            descriptor,
            aggregationTemporality,
            dataPointType: DataPointType.SUM,
            isMonotonic: true,
            dataPoints: m.points.map((p) => ({
              attributes: refAttributes(p.attributes),
              startTime: hrTime(p.startNs),
              endTime: hrTime(p.timeNs),
              value: p.value,
            })),
          };
        }
        return {
          descriptor,
          aggregationTemporality,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: m.points.map((p) => ({
            attributes: refAttributes(p.attributes),
            startTime: hrTime(p.startNs),
            endTime: hrTime(p.timeNs),
            value: {
              buckets: { boundaries: [...p.bounds], counts: p.bucketCounts },
              count: p.count,
              sum: p.sum,
              min: p.min,
              max: p.max,
            },
          })),
        };
      }),
    }],
  } as unknown as ResourceMetrics));
}

/** Metrics of every shape: two services, server/client/internal spans, errors, an overflow series. */
function sampleBatch(temporality: Temporality): ResourceMetricsData[] {
  let t = T0;
  const m = createSpanMetrics({ cardinalityLimit: 4, nowNs: () => t += 1_000_000n });
  const cart = { attributes: { "service.name": "cart" } };
  const db = { attributes: { "service.name": "db" } };
  const spans: SpanData[] = [
    span({ name: "GET /cart", kind: 2, resource: cart, endNs: span().startNs + 4_000_000n }),
    span({
      name: "GET /cart",
      kind: 2,
      resource: cart,
      status: { code: 2 },
      attributes: {
        "http.request.method": "GET",
        "http.route": "/cart",
        "http.response.status_code": 503,
        "server.port": 8080,
        "url.path": "/cart?id=1",
      },
    }),
    span({
      name: "query",
      kind: 3,
      resource: db,
      attributes: { "http.request.method": "POST", "server.address": "db.local", "server.port": 5432 },
    }),
    span({ name: 'naïve "quoted" ✓', resource: db, endNs: span().startNs + 10_000_000_001n }),
    span({ name: "over 1", resource: db }),
    span({ name: "over 2", resource: db }),
  ];
  for (const s of spans) m.record(s);
  return m.collect(temporality);
}

function referenceProto(batch: ResourceMetricsData[]) {
  // the reference takes one ResourceMetrics per request: concatenating the
  // encoded requests concatenates their repeated resource_metrics fields
  const parts = toReference(batch).map((r) => ProtobufMetricsSerializer.serializeRequest(r)!);
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return decodeMetricsRequestProto(all);
}

function referenceJson(batch: ResourceMetricsData[]) {
  const parts = toReference(batch).map((r) =>
    decodeMetricsRequestJson(new TextDecoder().decode(JsonMetricsSerializer.serializeRequest(r)!))
  );
  return { resourceMetrics: parts.flatMap((p) => p.resourceMetrics) };
}

for (const temporality of ["cumulative", "delta"] as const) {
  Deno.test(`OTLP metrics protobuf (${temporality}) decodes equal to @opentelemetry/otlp-transformer's`, () => {
    const batch = sampleBatch(temporality);
    const ours = decodeMetricsRequestProto(encodeOtlpMetricsProto(batch, VERSION));
    deepStrictEqual(ours, referenceProto(batch));
  });

  Deno.test(`OTLP metrics JSON (${temporality}) decodes equal to @opentelemetry/otlp-transformer's and to our protobuf`, () => {
    const batch = sampleBatch(temporality);
    const ours = decodeMetricsRequestJson(new TextDecoder().decode(encodeOtlpMetricsJson(batch, VERSION)));
    deepStrictEqual(ours, referenceJson(batch));
    deepStrictEqual(ours, decodeMetricsRequestProto(encodeOtlpMetricsProto(batch, VERSION)));
  });
}

Deno.test("OTLP metrics: the decoded values are the ones recorded", () => {
  const points = flattenPoints(decodeMetricsRequestProto(encodeOtlpMetricsProto(sampleBatch("cumulative"), VERSION)));
  const server = points.find((p) => p.metric === "http.server.request.duration")!;
  deepStrictEqual(server.resource, { "service.name": "cart" });
  deepStrictEqual(server.attributes, {
    "http.request.method": "GET",
    "http.route": "/cart",
    "server.port": 8080,
    "http.response.status_code": 503,
    "error.type": "503",
  });
  strictEqual(server.temporality, 2);
  strictEqual(server.unit, "s");
  strictEqual(server.value, 1n);
  strictEqual(server.histogram!.sum, 876e-9);
  strictEqual(server.histogram!.bucketCounts.length, 16);
  deepStrictEqual(server.histogram!.explicitBounds.slice(0, 3), [0, 0.005, 0.01]);
  const long = points.find((p) => p.metric === "traces.span.metrics.duration" && p.histogram!.max! > 10)!;
  strictEqual(long.histogram!.sum, 10.000000001);
  strictEqual(long.histogram!.bucketCounts[15], 1n, "10 s + 1 ns goes to +Inf");
  const calls = points.filter((p) => p.metric === "traces.span.metrics.calls");
  strictEqual(calls.reduce((a, p) => a + p.value, 0n), 6n, "every span counted once");
  const overflow = calls.find((p) => p.attributes["otel.metric.overflow"] === true)!;
  strictEqual(overflow.value, 2n);
  deepStrictEqual(overflow.resource, {});
  strictEqual(calls[0].startTimeUnixNano, T0 + 1_000_000n);
});
