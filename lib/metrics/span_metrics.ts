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
import { wallNowNs } from "../core/clock.ts";
import { type Attributes, type AttributeValue, type SpanData, SpanKind, StatusCode } from "../core/span_data.ts";
import {
  type Bounds,
  DEFAULT_DURATION_BOUNDS,
  durationOf,
  type HistogramState,
  newHistogram,
  nsToSeconds,
  observe,
  sumNsOf,
} from "./histogram.ts";
import type { HistogramPoint, Metric, ResourceMetricsData, SumPoint, Temporality } from "./metric_data.ts";
import { KeyTree, type KeyValue } from "./key_tree.ts";
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
/** The attribute of each position of an HTTP lookup path (after the service). */
const HTTP_KEYS = [
  ATTR_SERVICE_NAME,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_ERROR_TYPE,
];

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
  /** Smallest and largest duration (ns) since the last delta collection. */
  dMinNs: number;
  dMaxNs: number;
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

const SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * An attribute value as a metric attribute: scalars only (bytes and arrays
 * are left out: undefined); a `bigint` in the safe range becomes a number, so
 * `200n` and `200` (both int 200 on the wire) are one series.
 */
function metricValue(v: AttributeValue | undefined): KeyValue {
  switch (typeof v) {
    case "string":
    case "number":
    case "boolean":
      return v;
    case "bigint":
      return v >= -SAFE_BIG && v <= SAFE_BIG ? Number(v) : v;
    default:
      return undefined;
  }
}

/** Creates an empty metric store. */
export function createSpanMetrics(o: SpanMetricsOptions = {}): SpanMetrics {
  const limit = o.cardinalityLimit ?? DEFAULT_CARDINALITY_LIMIT;
  const bounds = o.bounds ?? DEFAULT_DURATION_BOUNDS;
  const now = o.nowNs ?? wallNowNs;
  const startNs = now();
  const newSeries = (service: string | undefined, attributes: Attributes): Series => {
    const t = now();
    return {
      service,
      attributes,
      h: newHistogram(bounds),
      sentCount: 0,
      sentSumNs: 0n,
      sentNs: t,
      dMinNs: 0,
      dMaxNs: 0,
    };
  };
  const overflow = () => newSeries(undefined, { [OVERFLOW_ATTRIBUTE]: true });
  const spans = new SeriesTable<Series>(limit, overflow);
  const server = new SeriesTable<Series>(limit, overflow);
  const client = new SeriesTable<Series>(limit, overflow);
  // lookup: never holds a key whose attribute set was refused (memory stays bounded)
  const spanIndex = new KeyTree<Series>();
  const serverIndex = new KeyTree<Series>();
  const clientIndex = new KeyTree<Series>();
  /** The lookup path of the span being recorded (reused: recording is synchronous). */
  const path: KeyValue[] = [];

  function add(s: Series, durationNs: number): void {
    const first = s.h.count === s.sentCount;
    observe(s.h, bounds, durationNs);
    if (first || durationNs < s.dMinNs) s.dMinNs = durationNs;
    if (first || durationNs > s.dMaxNs) s.dMaxNs = durationNs;
  }

  /** Canonical text of each list of extra attribute names (lists from different probes may be equal). */
  const extraKeys = new WeakMap<readonly string[], string>();

  /**
   * Appends to `path` from `at` which extra attributes there are (so paths of
   * spans with different lists never mix) and their values; returns the
   * path's length.
   */
  function extraPath(a: Attributes, extra: readonly string[] | undefined, at: number): number {
    if (!extra) {
      path[at] = "";
      return at + 1;
    }
    let names = extraKeys.get(extra);
    if (names === undefined) extraKeys.set(extra, names = JSON.stringify(extra));
    path[at++] = names;
    for (let i = 0; i < extra.length; i++) path[at++] = metricValue(a[extra[i]]);
    return at;
  }

  /** Adds the extra attributes (their values are in `path` from `at`) to `out`. */
  function addExtra(out: Attributes, extra: readonly string[] | undefined, at: number): Attributes {
    if (extra) {
      for (let i = 0; i < extra.length; i++) {
        const v = path[at + i];
        if (v !== undefined) out[extra[i]] = v;
      }
    }
    return out;
  }

  /** An HTTP duration point for a server or client span whose method, route or status code is known. */
  function recordHttp(
    span: SpanData,
    isClient: boolean,
    service: string,
    durationNs: number,
    extra: readonly string[] | undefined,
    method: AttributeValue | undefined,
    route: AttributeValue | undefined,
    status: AttributeValue | undefined,
  ): void {
    const a = span.attributes;
    const table = isClient ? client : server;
    const address = isClient ? a[ATTR_SERVER_ADDRESS] : undefined;
    const port = a[ATTR_SERVER_PORT];
    const given = a[ATTR_ERROR_TYPE];
    let errorType = metricValue(given);
    if (errorType === undefined) {
      const code = typeof status === "number" || typeof status === "bigint" ? Number(status) : NaN;
      if (code >= (isClient ? 400 : 500)) errorType = String(code);
      else if (span.status.code === StatusCode.ERROR) errorType = ERROR_TYPE_VALUE_OTHER;
    }
    path[0] = service;
    path[1] = metricValue(method);
    path[2] = metricValue(route);
    path[3] = metricValue(address);
    path[4] = metricValue(port);
    path[5] = metricValue(status);
    path[6] = errorType;
    const length = extraPath(a, extra, 7);
    const index = isClient ? clientIndex : serverIndex;
    let s = index.get(path, length);
    if (s === undefined && table.full) {
      s = table.overflow();
      o.onOverflow?.(isClient ? METRIC_HTTP_CLIENT_REQUEST_DURATION : METRIC_HTTP_SERVER_REQUEST_DURATION);
    }
    if (s === undefined) {
      const attrs: Attributes = {};
      for (let i = 1; i < 7; i++) if (path[i] !== undefined) attrs[HTTP_KEYS[i]] = path[i]!;
      s = table.add(newSeries(service, addExtra(attrs, extra, 8)));
      index.set(path, length, s);
    }
    add(s, durationNs);
  }

  function record(span: SpanData, extra?: readonly string[]): void {
    const durationNs = durationOf(span.startNs, span.endNs);
    const sv = span.resource.attributes[ATTR_SERVICE_NAME];
    const service = typeof sv === "string" ? sv : sv === undefined ? "unknown_service" : String(sv);
    const kind = span.kind;
    const code = span.status.code;
    const a = span.attributes;
    const name = span.name;
    path[0] = service;
    path[1] = name;
    path[2] = kind * 3 + code;
    const length = extraPath(a, extra, 3);
    let s = spanIndex.get(path, length);
    if (s === undefined && spans.full) {
      s = spans.overflow();
      o.onOverflow?.(SPAN_DURATION);
    }
    if (s === undefined) {
      const attrs: Attributes = {
        "span.name": name,
        "span.kind": KIND_NAMES[kind] ?? KIND_NAMES[0],
        "status.code": STATUS_NAMES[code] ?? STATUS_NAMES[0],
      };
      s = spans.add(newSeries(service, addExtra(attrs, extra, 4)));
      spanIndex.set(path, length, s);
    }
    add(s, durationNs);
    if (kind === SpanKind.SERVER || kind === SpanKind.CLIENT) {
      const status = a[ATTR_HTTP_RESPONSE_STATUS_CODE];
      const method = a[ATTR_HTTP_REQUEST_METHOD];
      const route = kind === SpanKind.SERVER ? a[ATTR_HTTP_ROUTE] : undefined;
      if (status !== undefined || method !== undefined || route !== undefined) {
        recordHttp(span, kind === SpanKind.CLIENT, service, durationNs, extra, method, route, status);
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
        sum: nsToSeconds(sumNsOf(h)),
        bucketCounts: Array.from(h.counts),
        bounds: bounds.seconds,
        min: nsToSeconds(h.minNs),
        max: nsToSeconds(h.maxNs),
      };
    }
    const sent = s.sentCounts;
    return {
      attributes: s.attributes,
      startNs: s.sentNs,
      timeNs: t,
      count: h.count - s.sentCount,
      sum: nsToSeconds(sumNsOf(h) - s.sentSumNs),
      bucketCounts: Array.from(h.counts, (c, i) => c - (sent ? sent[i] : 0)),
      bounds: bounds.seconds,
      min: nsToSeconds(s.dMinNs),
      max: nsToSeconds(s.dMaxNs),
    };
  }

  function markSent(s: Series, t: bigint): void {
    s.sentCounts = s.h.counts.slice();
    s.sentCount = s.h.count;
    s.sentSumNs = sumNsOf(s.h);
    s.sentNs = t;
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
