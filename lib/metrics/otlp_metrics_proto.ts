/**
 * Protobuf encoding of an OTLP `ExportMetricsServiceRequest`
 * (opentelemetry/proto/collector/metrics/v1) from collected metrics: monotonic
 * sums (int points) and explicit-bucket histograms. Timestamps go from
 * `bigint` into fixed64 exactly. Metric attributes are scalars (string, bool,
 * int, double); default (zero) fields are left out, as proto3 allows.
 * Metrics are small (a few thousand points a minute), so this favours
 * clarity: each message is encoded, then length-prefixed into its parent.
 * @module
 */
import type { Attributes, AttributeValue } from "../core/span_data.ts";
import type { HistogramPoint, Metric, ResourceMetricsData, SumPoint, Temporality } from "./metric_data.ts";

/** The instrumentation scope of spanprobe's metrics. */
export const METRICS_SCOPE_NAME = "spanprobe";

/** OTLP `AggregationTemporality` numbers. */
export const TEMPORALITY_NUMBER: Record<Temporality, number> = { delta: 1, cumulative: 2 };

const textEncoder = new TextEncoder();
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** A growable protobuf writer. */
class Writer {
  buf = new Uint8Array(256);
  view = new DataView(this.buf.buffer);
  pos = 0;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  varint(v: bigint): void {
    this.ensure(10);
    let u = BigInt.asUintN(64, v);
    while (u > 127n) {
      this.buf[this.pos++] = Number(u & 127n) | 128;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(BigInt(b.length));
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(field: number, s: string): void {
    if (s) this.bytes(field, textEncoder.encode(s));
  }

  message(field: number, body: (w: Writer) => void): void {
    const w = new Writer();
    body(w);
    this.bytes(field, w.done());
  }

  fixed64(field: number, v: bigint): void {
    this.tag(field, 1);
    this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }

  double(field: number, v: number): void {
    this.tag(field, 1);
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Packed repeated fixed64 (uint64 counts) or double. */
  packed(field: number, values: readonly number[], kind: "fixed64" | "double"): void {
    if (values.length === 0) return;
    this.tag(field, 2);
    this.varint(BigInt(values.length * 8));
    this.ensure(values.length * 8);
    for (const v of values) {
      if (kind === "double") this.view.setFloat64(this.pos, v, true);
      else this.view.setBigUint64(this.pos, BigInt(v), true);
      this.pos += 8;
    }
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

function anyValue(w: Writer, v: AttributeValue): void {
  switch (typeof v) {
    case "string":
      w.bytes(1, textEncoder.encode(v));
      return;
    case "boolean":
      w.tag(2, 0);
      w.varint(v ? 1n : 0n);
      return;
    case "number":
      if (Number.isSafeInteger(v)) {
        w.tag(3, 0);
        w.varint(BigInt(v));
      } else w.double(4, v);
      return;
    case "bigint":
      if (v < INT64_MIN || v > INT64_MAX) w.bytes(1, textEncoder.encode(v.toString()));
      else {
        w.tag(3, 0);
        w.varint(v);
      }
      return;
    default:
      w.bytes(1, textEncoder.encode(String(v)));
  }
}

function attributes(w: Writer, field: number, attrs: Attributes): void {
  for (const key in attrs) {
    w.message(field, (kv) => {
      kv.string(1, key);
      kv.message(2, (av) => anyValue(av, attrs[key]));
    });
  }
}

function sumPoint(w: Writer, p: SumPoint): void {
  w.fixed64(2, p.startNs);
  w.fixed64(3, p.timeNs);
  w.tag(6, 1); // as_int, sfixed64
  w.ensure(8);
  w.view.setBigInt64(w.pos, BigInt(p.value), true);
  w.pos += 8;
  attributes(w, 7, p.attributes);
}

function histogramPoint(w: Writer, p: HistogramPoint): void {
  w.fixed64(2, p.startNs);
  w.fixed64(3, p.timeNs);
  w.fixed64(4, BigInt(p.count));
  w.double(5, p.sum);
  w.packed(6, p.bucketCounts, "fixed64");
  w.packed(7, p.bounds, "double");
  attributes(w, 9, p.attributes);
  if (p.min !== undefined) w.double(11, p.min);
  if (p.max !== undefined) w.double(12, p.max);
}

function metric(w: Writer, m: Metric): void {
  w.string(1, m.name);
  w.string(2, m.description);
  w.string(3, m.unit);
  if (m.type === "sum") {
    w.message(7, (s) => {
      for (const p of m.points) s.message(1, (pw) => sumPoint(pw, p));
      s.tag(2, 0);
      s.varint(BigInt(TEMPORALITY_NUMBER[m.temporality]));
      s.tag(3, 0);
      s.varint(1n);
    });
  } else {
    w.message(9, (h) => {
      for (const p of m.points) h.message(1, (pw) => histogramPoint(pw, p));
      h.tag(2, 0);
      h.varint(BigInt(TEMPORALITY_NUMBER[m.temporality]));
    });
  }
}

/**
 * Encode `batch` as a protobuf `ExportMetricsServiceRequest`: one
 * ResourceMetrics per resource, each with one ScopeMetrics of scope
 * `{name: "spanprobe", version: scopeVersion}`.
 */
export function encodeOtlpMetricsProto(batch: readonly ResourceMetricsData[], scopeVersion = ""): Uint8Array {
  const w = new Writer();
  for (const r of batch) {
    w.message(1, (rm) => {
      rm.message(1, (res) => attributes(res, 1, r.resource));
      rm.message(2, (sm) => {
        sm.message(1, (scope) => {
          scope.string(1, METRICS_SCOPE_NAME);
          scope.string(2, scopeVersion);
        });
        for (const m of r.metrics) sm.message(2, (mw) => metric(mw, m));
      });
    });
  }
  return w.done();
}
