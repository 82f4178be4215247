/**
 * RED metrics from spans, computed in the agent (docs/metrics.md):
 *
 * - `traces.span.metrics.calls` (counter) and `traces.span.metrics.duration`
 *   (histogram, s) for every span, by `span.name`, `span.kind` and
 *   `status.code` — the shape of the collector's span-metrics connector;
 * - `http.server.request.duration` / `http.client.request.duration`
 *   (histograms, s) for server / client spans with HTTP attributes, with the
 *   semantic-convention attributes (`http.request.method`, `http.route`,
 *   `http.response.status_code`, `server.address` (client), `server.port`,
 *   `error.type` for failures). Never `url.path` or a query: routes only.
 *
 * Series are grouped by the span's `service.name` (their resource). Each
 * metric keeps at most `cardinalityLimit` attribute sets; past that, points
 * go to one `otel.metric.overflow=true` series and are counted. Durations,
 * buckets and sums are kept in integer nanoseconds, so counts and sums are
 * exact; seconds are computed only when collected.
 * @module
 */
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ERROR_TYPE_VALUE_OTHER,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from "@opentelemetry/semantic-conventions";
import { type Attributes, type AttributeValue, type SpanData, SpanKind, StatusCode } from "../spans/span_data.ts";
import {
  type Bounds,
  DEFAULT_DURATION_BOUNDS,
  type HistogramState,
  newHistogram,
  nsToSeconds,
  observe,
} from "./histogram.ts";
import type { HistogramPoint, Metric, ResourceMetricsData, SumPoint, Temporality } from "./metric_data.ts";
import { DEFAULT_CARDINALITY_LIMIT, OVERFLOW_ATTRIBUTE, SeriesTable } from "./series_table.ts";

/** Name of the span-metrics call counter. */
export const SPAN_CALLS = "traces.span.metrics.calls";
/** Name of the span-metrics duration histogram. */
export const SPAN_DURATION = "traces.span.metrics.duration";

const KIND_NAMES = [
  "SPAN_KIND_UNSPECIFIED",
  "SPAN_KIND_INTERNAL",
  "SPAN_KIND_SERVER",
  "SPAN_KIND_CLIENT",
  "SPAN_KIND_PRODUCER",
  "SPAN_KIND_CONSUMER",
];
const STATUS_NAMES = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/** One series: its attributes and histogram, plus what the last delta collection saw. */
interface Series {
  /** `service.name` of the resource; undefined for the overflow series. */
  service: string | undefined;
  attributes: Attributes;
  h: HistogramState;
  /** Delta bookkeeping: totals at the last delta collection and when it was. */
  sentCounts?: Float64Array;
  sentCount: number;
  sentSumNs: bigint;
  sentNs: bigint;
  /** Smallest and largest duration since the last delta collection. */
  dMinNs?: bigint;
  dMaxNs?: bigint;
}

/** Options of {@linkcode createSpanMetrics}. */
export interface SpanMetricsOptions {
  /** Most attribute sets per metric (default 2,000). */
  cardinalityLimit?: number;
  /** Duration buckets (default OBI's, {@linkcode DEFAULT_DURATION_BOUNDS}). */
  bounds?: Bounds;
  /** The wall clock in ns (tests pass their own). */
  nowNs?: () => bigint;
  /** Called for each point that went to an overflow series, with the metric's name. */
  onOverflow?: (metric: string) => void;
}

/** The metric store of one agent. */
export interface SpanMetrics {
  /**
   * Count one span in every metric it belongs to. `extra` names span
   * attributes that become metric attributes too (a probe spec's `metrics:`).
   */
  record(span: SpanData, extra?: readonly string[]): void;
  /**
   * The metrics now. Cumulative collection changes nothing; delta collection
   * returns what changed since the previous delta collection (series without
   * new points are left out) and starts a new interval.
   */
  collect(temporality: Temporality): ResourceMetricsData[];
  /** Series held, all metrics together (overflow series included). */
  readonly seriesCount: number;
  /** Points that went to overflow series so far, all metrics together. */
  readonly overflowed: number;
}

function wallNowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** A string that cannot be confused with another value or with the separators. */
function keyPart(v: AttributeValue | undefined): string {
  switch (typeof v) {
    case "string":
      return `s${v.length}:${v}`;
    case "number":
    case "bigint":
      return `n${v}`;
    case "boolean":
      return v ? "T" : "F";
    default:
      return "-";
  }
}

/** A value usable as a metric attribute (scalars only; bytes and arrays are left out). */
function metricValue(v: AttributeValue | undefined): v is string | number | boolean | bigint {
  const t = typeof v;
  return t === "string" || t === "number" || t === "boolean" || t === "bigint";
}

/** Creates an empty metric store. */
export function createSpanMetrics(o: SpanMetricsOptions = {}): SpanMetrics {
  const limit = o.cardinalityLimit ?? DEFAULT_CARDINALITY_LIMIT;
  const bounds = o.bounds ?? DEFAULT_DURATION_BOUNDS;
  const now = o.nowNs ?? wallNowNs;
  const startNs = now();
  const newSeries = (service: string | undefined, attributes: Attributes): Series => {
    const t = now();
    return { service, attributes, h: newHistogram(bounds), sentCount: 0, sentSumNs: 0n, sentNs: t };
  };
  const overflow = () => newSeries(undefined, { [OVERFLOW_ATTRIBUTE]: true });
  const spans = new SeriesTable<Series>(limit, overflow);
  const server = new SeriesTable<Series>(limit, overflow);
  const client = new SeriesTable<Series>(limit, overflow);

  function add(s: Series, durationNs: bigint): void {
    observe(s.h, bounds, durationNs);
    if (s.dMinNs === undefined || durationNs < s.dMinNs) s.dMinNs = durationNs;
    if (s.dMaxNs === undefined || durationNs > s.dMaxNs) s.dMaxNs = durationNs;
  }

  function extraKey(a: Attributes, extra: readonly string[] | undefined): string {
    if (!extra) return "";
    let k = "";
    for (let i = 0; i < extra.length; i++) k += "\u0000" + keyPart(a[extra[i]]);
    return k;
  }

  function addExtra(out: Attributes, a: Attributes, extra: readonly string[] | undefined): Attributes {
    if (extra) {
      for (const name of extra) {
        const v = a[name];
        if (metricValue(v)) out[name] = v;
      }
    }
    return out;
  }

  function recordHttp(
    table: SeriesTable<Series>,
    metric: string,
    isClient: boolean,
    span: SpanData,
    service: string,
    durationNs: bigint,
    extra: readonly string[] | undefined,
  ): void {
    const a = span.attributes;
    const method = a[ATTR_HTTP_REQUEST_METHOD];
    const route = isClient ? undefined : a[ATTR_HTTP_ROUTE];
    const address = isClient ? a[ATTR_SERVER_ADDRESS] : undefined;
    const port = a[ATTR_SERVER_PORT];
    const status = a[ATTR_HTTP_RESPONSE_STATUS_CODE];
    const given = a[ATTR_ERROR_TYPE];
    let errorType: AttributeValue | undefined = metricValue(given) ? given : undefined;
    if (errorType === undefined) {
      const code = typeof status === "number" || typeof status === "bigint" ? Number(status) : NaN;
      if (code >= (isClient ? 400 : 500)) errorType = String(code);
      else if (span.status.code === StatusCode.ERROR) errorType = ERROR_TYPE_VALUE_OTHER;
    }
    const key = keyPart(service) + "\u0000" + keyPart(method) + "\u0000" + keyPart(route) + "\u0000" +
      keyPart(address) + "\u0000" + keyPart(port) + "\u0000" + keyPart(status) + "\u0000" + keyPart(errorType) +
      extraKey(a, extra);
    let s = table.find(key);
    if (s === undefined) {
      const attrs: Attributes = {};
      if (metricValue(method)) attrs[ATTR_HTTP_REQUEST_METHOD] = method;
      if (metricValue(route)) attrs[ATTR_HTTP_ROUTE] = route;
      if (metricValue(address)) attrs[ATTR_SERVER_ADDRESS] = address;
      if (metricValue(port)) attrs[ATTR_SERVER_PORT] = port;
      if (metricValue(status)) attrs[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
      if (errorType !== undefined) attrs[ATTR_ERROR_TYPE] = errorType;
      s = table.add(key, newSeries(service, addExtra(attrs, a, extra)));
    } else if (s.service === undefined) {
      o.onOverflow?.(metric);
    }
    add(s, durationNs);
  }

  function record(span: SpanData, extra?: readonly string[]): void {
    const d = span.endNs - span.startNs;
    const durationNs = d > 0n ? d : 0n;
    const sv = span.resource.attributes[ATTR_SERVICE_NAME];
    const service = typeof sv === "string" ? sv : sv === undefined ? "unknown_service" : String(sv);
    const kind = span.kind;
    const code = span.status.code;
    const a = span.attributes;
    const key = keyPart(service) + "\u0000" + kind + code + keyPart(span.name) + extraKey(a, extra);
    let s = spans.find(key);
    if (s === undefined) {
      const attrs: Attributes = {
        "span.name": span.name,
        "span.kind": KIND_NAMES[kind] ?? KIND_NAMES[0],
        "status.code": STATUS_NAMES[code] ?? STATUS_NAMES[0],
      };
      s = spans.add(key, newSeries(service, addExtra(attrs, a, extra)));
    } else if (s.service === undefined) {
      o.onOverflow?.(SPAN_DURATION);
    }
    add(s, durationNs);
    if (kind === SpanKind.SERVER || kind === SpanKind.CLIENT) {
      if (
        a[ATTR_HTTP_RESPONSE_STATUS_CODE] !== undefined || a[ATTR_HTTP_REQUEST_METHOD] !== undefined ||
        a[ATTR_HTTP_ROUTE] !== undefined
      ) {
        if (kind === SpanKind.SERVER) {
          recordHttp(server, METRIC_HTTP_SERVER_REQUEST_DURATION, false, span, service, durationNs, extra);
        } else recordHttp(client, METRIC_HTTP_CLIENT_REQUEST_DURATION, true, span, service, durationNs, extra);
      }
    }
  }

  /** The histogram point of `s` (cumulative, or the delta since the last delta collection). */
  function histogramPoint(s: Series, temporality: Temporality, t: bigint): HistogramPoint {
    const h = s.h;
    if (temporality === "cumulative") {
      return {
        attributes: s.attributes,
        startNs,
        timeNs: t,
        count: h.count,
        sum: nsToSeconds(h.sumNs),
        bucketCounts: Array.from(h.counts),
        bounds: bounds.seconds,
        min: h.minNs === undefined ? undefined : nsToSeconds(h.minNs),
        max: h.maxNs === undefined ? undefined : nsToSeconds(h.maxNs),
      };
    }
    const sent = s.sentCounts;
    return {
      attributes: s.attributes,
      startNs: s.sentNs,
      timeNs: t,
      count: h.count - s.sentCount,
      sum: nsToSeconds(h.sumNs - s.sentSumNs),
      bucketCounts: Array.from(h.counts, (c, i) => c - (sent ? sent[i] : 0)),
      bounds: bounds.seconds,
      min: s.dMinNs === undefined ? undefined : nsToSeconds(s.dMinNs),
      max: s.dMaxNs === undefined ? undefined : nsToSeconds(s.dMaxNs),
    };
  }

  function markSent(s: Series, t: bigint): void {
    s.sentCounts = s.h.counts.slice();
    s.sentCount = s.h.count;
    s.sentSumNs = s.h.sumNs;
    s.sentNs = t;
    s.dMinNs = s.dMaxNs = undefined;
  }

  function collect(temporality: Temporality): ResourceMetricsData[] {
    const t = now();
    const groups = new Map<string | undefined, Map<string, Metric>>();
    const metricOf = (
      service: string | undefined,
      type: Metric["type"],
      name: string,
      description: string,
      unit: string,
    ): Metric => {
      let g = groups.get(service);
      if (!g) groups.set(service, g = new Map());
      let m = g.get(name);
      if (!m) g.set(name, m = { type, name, description, unit, temporality, points: [] } as Metric);
      return m;
    };
    for (const s of spans.all()) {
      if (temporality === "delta" && s.h.count === s.sentCount) continue;
      const hp = histogramPoint(s, temporality, t);
      const calls: SumPoint = { attributes: s.attributes, startNs: hp.startNs, timeNs: t, value: hp.count };
      (metricOf(s.service, "sum", SPAN_CALLS, "Spans by service, span name, kind and status code", "{call}")
        .points as SumPoint[]).push(calls);
      (metricOf(
        s.service,
        "histogram",
        SPAN_DURATION,
        "Span durations by service, span name, kind and status code",
        "s",
      )
        .points as HistogramPoint[]).push(hp);
      if (temporality === "delta") markSent(s, t);
    }
    const http: [SeriesTable<Series>, string, string][] = [
      [server, METRIC_HTTP_SERVER_REQUEST_DURATION, "Duration of HTTP server requests."],
      [client, METRIC_HTTP_CLIENT_REQUEST_DURATION, "Duration of HTTP client requests."],
    ];
    for (const [table, name, description] of http) {
      for (const s of table.all()) {
        if (temporality === "delta" && s.h.count === s.sentCount) continue;
        (metricOf(s.service, "histogram", name, description, "s").points as HistogramPoint[])
          .push(histogramPoint(s, temporality, t));
        if (temporality === "delta") markSent(s, t);
      }
    }
    return [...groups].map(([service, metrics]) => ({
      resource: service === undefined ? {} as Attributes : { [ATTR_SERVICE_NAME]: service },
      metrics: [...metrics.values()],
    }));
  }

  return {
    record,
    collect,
    get seriesCount() {
      let n = 0;
      for (const t of [spans, server, client]) for (const _ of t.all()) n++;
      return n;
    },
    get overflowed() {
      return spans.overflowed + server.overflowed + client.overflowed;
    },
  };
}
