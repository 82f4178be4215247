/**
 * Decoding OTLP `ExportMetricsServiceRequest`s (protobuf and JSON) into one
 * exact structure, for tests: times, counts and int values as bigint, doubles
 * as numbers; absent fields hold their proto3 defaults (optional doubles:
 * undefined). Plus helpers that flatten decoded requests into points.
 * @module
 */
import {
  type DecodedAnyValue,
  type DecodedKeyValue,
  decodeWire,
  jsonKeyValue,
  type PlainValue,
  plainValue,
  protoKeyValue,
  type WireField,
} from "./otlp_receiver.ts";

/** A decoded `NumberDataPoint`. */
export interface DecodedNumberPoint {
  attributes: DecodedKeyValue[];
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  asInt?: bigint;
  asDouble?: number;
}

/** A decoded `HistogramDataPoint`. */
export interface DecodedHistogramPoint {
  attributes: DecodedKeyValue[];
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  count: bigint;
  sum?: number;
  bucketCounts: bigint[];
  explicitBounds: number[];
  min?: number;
  max?: number;
}

/** A decoded `Metric` (sums and histograms only). */
export interface DecodedMetric {
  name: string;
  description: string;
  unit: string;
  sum?: { dataPoints: DecodedNumberPoint[]; aggregationTemporality: number; isMonotonic: boolean };
  histogram?: { dataPoints: DecodedHistogramPoint[]; aggregationTemporality: number };
}

/** A decoded `ExportMetricsServiceRequest`. */
export interface DecodedMetricsRequest {
  resourceMetrics: {
    resource: DecodedKeyValue[];
    scopeMetrics: { scope: { name: string; version: string }; metrics: DecodedMetric[] }[];
  }[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function bytesOf(f: WireField): Uint8Array {
  if (f.wire !== 2) throw new Error(`field ${f.field}: expected bytes`);
  return f.value;
}

function doubleOf(f: WireField): number {
  if (f.wire !== 1) throw new Error(`field ${f.field}: expected fixed64`);
  const b = new DataView(new ArrayBuffer(8));
  b.setBigUint64(0, f.value, true);
  return b.getFloat64(0, true);
}

function uintOf(f: WireField): bigint {
  if (f.wire !== 0 && f.wire !== 1) throw new Error(`field ${f.field}: expected integer`);
  return f.value;
}

/** Packed (or unpacked) repeated 8-byte values. */
function repeated64(f: WireField, out: bigint[]): void {
  if (f.wire === 1) {
    out.push(f.value);
    return;
  }
  const b = bytesOf(f);
  if (b.length % 8) throw new Error(`field ${f.field}: packed length ${b.length} not a multiple of 8`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < b.length; i += 8) out.push(v.getBigUint64(i, true));
}

function asDouble(u: bigint): number {
  const b = new DataView(new ArrayBuffer(8));
  b.setBigUint64(0, u, true);
  return b.getFloat64(0, true);
}

function numberPoint(bytes: Uint8Array): DecodedNumberPoint {
  const p: DecodedNumberPoint = { attributes: [], startTimeUnixNano: 0n, timeUnixNano: 0n };
  for (const f of decodeWire(bytes)) {
    if (f.field === 7) p.attributes.push(protoKeyValue(bytesOf(f)));
    else if (f.field === 2) p.startTimeUnixNano = uintOf(f);
    else if (f.field === 3) p.timeUnixNano = uintOf(f);
    else if (f.field === 4) p.asDouble = doubleOf(f);
    else if (f.field === 6) p.asInt = BigInt.asIntN(64, uintOf(f));
  }
  return p;
}

function histogramPoint(bytes: Uint8Array): DecodedHistogramPoint {
  const p: DecodedHistogramPoint = {
    attributes: [],
    startTimeUnixNano: 0n,
    timeUnixNano: 0n,
    count: 0n,
    bucketCounts: [],
    explicitBounds: [],
  };
  const bounds: bigint[] = [];
  for (const f of decodeWire(bytes)) {
    if (f.field === 9) p.attributes.push(protoKeyValue(bytesOf(f)));
    else if (f.field === 2) p.startTimeUnixNano = uintOf(f);
    else if (f.field === 3) p.timeUnixNano = uintOf(f);
    else if (f.field === 4) p.count = uintOf(f);
    else if (f.field === 5) p.sum = doubleOf(f);
    else if (f.field === 6) repeated64(f, p.bucketCounts);
    else if (f.field === 7) repeated64(f, bounds);
    else if (f.field === 11) p.min = doubleOf(f);
    else if (f.field === 12) p.max = doubleOf(f);
  }
  p.explicitBounds = bounds.map(asDouble);
  return p;
}

function protoMetric(bytes: Uint8Array): DecodedMetric {
  const m: DecodedMetric = { name: "", description: "", unit: "" };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) m.name = utf8.decode(bytesOf(f));
    else if (f.field === 2) m.description = utf8.decode(bytesOf(f));
    else if (f.field === 3) m.unit = utf8.decode(bytesOf(f));
    else if (f.field === 7) {
      const sum: NonNullable<DecodedMetric["sum"]> = { dataPoints: [], aggregationTemporality: 0, isMonotonic: false };
      for (const g of decodeWire(bytesOf(f))) {
        if (g.field === 1) sum.dataPoints.push(numberPoint(bytesOf(g)));
        else if (g.field === 2) sum.aggregationTemporality = Number(uintOf(g));
        else if (g.field === 3) sum.isMonotonic = uintOf(g) !== 0n;
      }
      m.sum = sum;
    } else if (f.field === 9) {
      const h: NonNullable<DecodedMetric["histogram"]> = { dataPoints: [], aggregationTemporality: 0 };
      for (const g of decodeWire(bytesOf(f))) {
        if (g.field === 1) h.dataPoints.push(histogramPoint(bytesOf(g)));
        else if (g.field === 2) h.aggregationTemporality = Number(uintOf(g));
      }
      m.histogram = h;
    } else throw new Error(`metric field ${f.field} not expected`);
  }
  return m;
}

/** Decode a protobuf `ExportMetricsServiceRequest`. Throws on malformed input. */
export function decodeMetricsRequestProto(bytes: Uint8Array): DecodedMetricsRequest {
  const out: DecodedMetricsRequest = { resourceMetrics: [] };
  for (const f of decodeWire(bytes)) {
    if (f.field !== 1) continue;
    const rm: DecodedMetricsRequest["resourceMetrics"][number] = { resource: [], scopeMetrics: [] };
    for (const g of decodeWire(bytesOf(f))) {
      if (g.field === 1) {
        for (const a of decodeWire(bytesOf(g))) if (a.field === 1) rm.resource.push(protoKeyValue(bytesOf(a)));
      } else if (g.field === 2) {
        const sm = { scope: { name: "", version: "" }, metrics: [] as DecodedMetric[] };
        for (const h of decodeWire(bytesOf(g))) {
          if (h.field === 1) {
            for (const s of decodeWire(bytesOf(h))) {
              if (s.field === 1) sm.scope.name = utf8.decode(bytesOf(s));
              else if (s.field === 2) sm.scope.version = utf8.decode(bytesOf(s));
            }
          } else if (h.field === 2) sm.metrics.push(protoMetric(bytesOf(h)));
        }
        rm.scopeMetrics.push(sm);
      }
    }
    out.resourceMetrics.push(rm);
  }
  return out;
}

// deno-lint-ignore no-explicit-any
type Json = any;

const big = (v: Json): bigint => v === undefined || v === null ? 0n : BigInt(v);
const optDouble = (v: Json): number | undefined => v === undefined || v === null ? undefined : Number(v);
const attrs = (v: Json): DecodedKeyValue[] => (v ?? []).map(jsonKeyValue);

/** Normalize a parsed OTLP/JSON `ExportMetricsServiceRequest`. */
export function decodeMetricsRequestJson(json: string | Json): DecodedMetricsRequest {
  const root = typeof json === "string" ? JSON.parse(json) : json;
  return {
    resourceMetrics: (root.resourceMetrics ?? []).map((rm: Json) => ({
      resource: attrs(rm.resource?.attributes),
      scopeMetrics: (rm.scopeMetrics ?? []).map((sm: Json) => ({
        scope: { name: sm.scope?.name ?? "", version: sm.scope?.version ?? "" },
        metrics: (sm.metrics ?? []).map((m: Json): DecodedMetric => {
          const out: DecodedMetric = { name: m.name ?? "", description: m.description ?? "", unit: m.unit ?? "" };
          if (m.sum) {
            out.sum = {
              aggregationTemporality: Number(m.sum.aggregationTemporality ?? 0),
              isMonotonic: m.sum.isMonotonic === true,
              dataPoints: (m.sum.dataPoints ?? []).map((p: Json): DecodedNumberPoint => {
                const d: DecodedNumberPoint = {
                  attributes: attrs(p.attributes),
                  startTimeUnixNano: big(p.startTimeUnixNano),
                  timeUnixNano: big(p.timeUnixNano),
                };
                if (p.asInt !== undefined) d.asInt = big(p.asInt);
                if (p.asDouble !== undefined) d.asDouble = Number(p.asDouble);
                return d;
              }),
            };
          }
          if (m.histogram) {
            out.histogram = {
              aggregationTemporality: Number(m.histogram.aggregationTemporality ?? 0),
              dataPoints: (m.histogram.dataPoints ?? []).map((p: Json): DecodedHistogramPoint => {
                const d: DecodedHistogramPoint = {
                  attributes: attrs(p.attributes),
                  startTimeUnixNano: big(p.startTimeUnixNano),
                  timeUnixNano: big(p.timeUnixNano),
                  count: big(p.count),
                  bucketCounts: (p.bucketCounts ?? []).map(big),
                  explicitBounds: (p.explicitBounds ?? []).map(Number),
                };
                if (optDouble(p.sum) !== undefined) d.sum = optDouble(p.sum);
                if (optDouble(p.min) !== undefined) d.min = optDouble(p.min);
                if (optDouble(p.max) !== undefined) d.max = optDouble(p.max);
                return d;
              }),
            };
          }
          return out;
        }),
      })),
    })),
  };
}

/** One data point with its metric, resource and plain attributes. */
export interface FlatPoint {
  metric: string;
  unit: string;
  temporality: number;
  resource: Record<string, PlainValue>;
  attributes: Record<string, PlainValue>;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  /** Sums: the int value; histograms: the count. */
  value: bigint;
  histogram?: DecodedHistogramPoint;
}

function plain(kvs: DecodedKeyValue[]): Record<string, PlainValue> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, plainValue(kv.value as DecodedAnyValue)]));
}

/** Every point of a decoded request, flattened. */
export function flattenPoints(req: DecodedMetricsRequest): FlatPoint[] {
  const out: FlatPoint[] = [];
  for (const rm of req.resourceMetrics) {
    const resource = plain(rm.resource);
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        for (const p of m.sum?.dataPoints ?? []) {
          out.push({
            metric: m.name,
            unit: m.unit,
            temporality: m.sum!.aggregationTemporality,
            resource,
            attributes: plain(p.attributes),
            startTimeUnixNano: p.startTimeUnixNano,
            timeUnixNano: p.timeUnixNano,
            value: p.asInt ?? 0n,
          });
        }
        for (const p of m.histogram?.dataPoints ?? []) {
          out.push({
            metric: m.name,
            unit: m.unit,
            temporality: m.histogram!.aggregationTemporality,
            resource,
            attributes: plain(p.attributes),
            startTimeUnixNano: p.startTimeUnixNano,
            timeUnixNano: p.timeUnixNano,
            value: p.count,
            histogram: p,
          });
        }
      }
    }
  }
  return out;
}
