/**
 * OTLP/JSON encoding of an `ExportMetricsServiceRequest`: lowerCamelCase
 * keys, int64/fixed64 values (times, counts, int points) as decimal strings,
 * enums as integers, doubles as JSON numbers. Same content as
 * {@linkcode encodeOtlpMetricsProto}.
 * @module
 */
import type { Attributes, AttributeValue } from "../core/span_data.ts";
import type { HistogramPoint, Metric, ResourceMetricsData, SumPoint } from "./metric_data.ts";
import { encodeOtlpMetricsProto, METRICS_SCOPE_NAME, TEMPORALITY_NUMBER } from "./otlp_metrics_proto.ts";

const textEncoder = new TextEncoder();
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

function anyValue(v: AttributeValue): Record<string, unknown> {
  switch (typeof v) {
    case "string":
      return { stringValue: v };
    case "boolean":
      return { boolValue: v };
    case "number":
      return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
    case "bigint":
      return v < INT64_MIN || v > INT64_MAX ? { stringValue: String(v) } : { intValue: String(v) };
    default:
      return { stringValue: String(v) };
  }
}

function attributes(a: Attributes): { key: string; value: Record<string, unknown> }[] {
  return Object.keys(a).map((key) => ({ key, value: anyValue(a[key]) }));
}

function sumPoint(p: SumPoint) {
  return {
    attributes: attributes(p.attributes),
    startTimeUnixNano: String(p.startNs),
    timeUnixNano: String(p.timeNs),
    asInt: String(p.value),
  };
}

function histogramPoint(p: HistogramPoint) {
  return {
    attributes: attributes(p.attributes),
    startTimeUnixNano: String(p.startNs),
    timeUnixNano: String(p.timeNs),
    count: String(p.count),
    sum: p.sum,
    bucketCounts: p.bucketCounts.map(String),
    explicitBounds: p.bounds,
    min: p.min,
    max: p.max,
  };
}

function metric(m: Metric) {
  const head = { name: m.name, description: m.description, unit: m.unit };
  const aggregationTemporality = TEMPORALITY_NUMBER[m.temporality];
  if (m.type === "sum") {
    return { ...head, sum: { dataPoints: m.points.map(sumPoint), aggregationTemporality, isMonotonic: true } };
  }
  return { ...head, histogram: { dataPoints: m.points.map(histogramPoint), aggregationTemporality } };
}

/** Encode `batch` as OTLP/JSON bytes (UTF-8). */
export function encodeOtlpMetricsJson(batch: readonly ResourceMetricsData[], scopeVersion = ""): Uint8Array {
  const scope = scopeVersion ? { name: METRICS_SCOPE_NAME, version: scopeVersion } : { name: METRICS_SCOPE_NAME };
  return textEncoder.encode(JSON.stringify({
    resourceMetrics: batch.map((r) => ({
      resource: { attributes: attributes(r.resource) },
      scopeMetrics: [{ scope, metrics: r.metrics.map(metric) }],
    })),
  }));
}

/** The encoder for a protocol. */
export function metricsEncoder(
  protocol: "http/protobuf" | "http/json",
): (batch: readonly ResourceMetricsData[], scopeVersion?: string) => Uint8Array {
  return protocol === "http/json" ? encodeOtlpMetricsJson : encodeOtlpMetricsProto;
}
