import assert, { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { boundsOf, bucketIndex, DEFAULT_DURATION_BOUNDS, DEFAULT_DURATION_BOUNDS_S } from "../lib/metrics/histogram.ts";
import type { HistogramMetric, ResourceMetricsData, SumMetric } from "../lib/metrics/metric_data.ts";
import { KeyTree } from "../lib/metrics/key_tree.ts";
import { createSpanMetrics, SPAN_CALLS, SPAN_DURATION } from "../lib/metrics/span_metrics.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { span } from "./support/spans.ts";

const T0 = 1795313354907507123n;
const MS = 1_000_000n;

/** A span of `durationNs` starting at T0; `over` replaces fields. */
function timed(durationNs: bigint, over: Partial<SpanData> = {}): SpanData {
  return span({ startNs: T0, endNs: T0 + durationNs, ...over });
}

function metric(batch: ResourceMetricsData[], name: string, service = "t") {
  const r = batch.find((x) => x.resource["service.name"] === service);
  return r?.metrics.find((m) => m.name === name);
}

/** A clock tests move by hand. */
function manualClock(start = 1_000n) {
  let t = start;
  return { now: () => t, advance: (ns: bigint) => t += ns };
}

Deno.test("buckets: OBI's default bounds, a value on a bound falls in that bound's bucket", () => {
  deepStrictEqual(DEFAULT_DURATION_BOUNDS_S, [0, .005, .01, .025, .05, .075, .1, .25, .5, .75, 1, 2.5, 5, 7.5, 10]);
  const b = DEFAULT_DURATION_BOUNDS;
  strictEqual(bucketIndex(b, 0n), 0, "0 is in (-inf, 0]");
  strictEqual(bucketIndex(b, 1n), 1, "1 ns is above 0");
  strictEqual(bucketIndex(b, 5n * MS), 1, "5 ms exactly: le=0.005");
  strictEqual(bucketIndex(b, 5n * MS + 1n), 2, "5 ms + 1 ns: le=0.01");
  strictEqual(bucketIndex(b, 75n * MS), 5);
  strictEqual(bucketIndex(b, 75n * MS + 1n), 6);
  strictEqual(bucketIndex(b, 10_000n * MS), 14, "10 s exactly: last finite bucket");
  strictEqual(bucketIndex(b, 10_000n * MS + 1n), 15, "above 10 s: +Inf bucket");
  strictEqual(bucketIndex(b, 1n << 62n), 15);
  // every bound, and one ns either side
  for (let i = 0; i < b.ns.length; i++) {
    strictEqual(bucketIndex(b, b.ns[i]), i);
    strictEqual(bucketIndex(b, b.ns[i] + 1n), i + 1);
    if (b.ns[i] > 0n) strictEqual(bucketIndex(b, b.ns[i] - 1n), i);
  }
  throws(() => boundsOf([0.1, 0.05]), /increase/);
  throws(() => boundsOf([1e-10]), /nanoseconds/);
});

Deno.test("span metrics: calls and duration by service, name, kind and status; exact sums", () => {
  const m = createSpanMetrics();
  const durations = [0n, 5n * MS, 5n * MS + 1n, 123_456_789n, 10_000n * MS + 1n];
  for (const d of durations) m.record(timed(d, { name: "GET /cart", kind: 2 }));
  m.record(timed(7n, { name: "GET /cart", kind: 2, status: { code: 2, message: "x" } }));
  const batch = m.collect("cumulative");
  deepStrictEqual(batch.map((r) => r.resource), [{ "service.name": "t" }]);
  const calls = metric(batch, SPAN_CALLS) as SumMetric;
  strictEqual(calls.type, "sum");
  deepStrictEqual(calls.points.map((p) => [p.attributes, p.value]), [
    [{ "span.name": "GET /cart", "span.kind": "SPAN_KIND_SERVER", "status.code": "STATUS_CODE_UNSET" }, 5],
    [{ "span.name": "GET /cart", "span.kind": "SPAN_KIND_SERVER", "status.code": "STATUS_CODE_ERROR" }, 1],
  ]);
  const dur = metric(batch, SPAN_DURATION) as HistogramMetric;
  strictEqual(dur.unit, "s");
  const p = dur.points[0];
  strictEqual(p.count, 5);
  strictEqual(p.sum, Number(durations.reduce((a, b) => a + b, 0n)) / 1e9);
  deepStrictEqual(p.bucketCounts, [1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
  strictEqual(p.min, 0);
  strictEqual(p.max, 10.000000001);
  deepStrictEqual(p.bounds, DEFAULT_DURATION_BOUNDS_S);
});

Deno.test("http metrics: server and client spans with HTTP attributes, semantic-convention attributes only", () => {
  const m = createSpanMetrics();
  const server = {
    "http.request.method": "GET",
    "http.route": "/cart/{id}",
    "url.path": "/cart/42",
    "http.response.status_code": 503n,
    "server.port": 8080,
    "request.id": "abc",
  };
  m.record(timed(3n * MS, { kind: 2, attributes: server, status: { code: 2 } }));
  m.record(timed(4n * MS, { kind: 2, attributes: { ...server, "http.response.status_code": 200 } }));
  m.record(timed(4n * MS, { kind: 2, attributes: { ...server, "http.response.status_code": 200n } }));
  m.record(timed(1n * MS, {
    kind: 3,
    attributes: { "http.request.method": "POST", "server.address": "db", "server.port": 5432 },
    status: { code: 2 },
  }));
  m.record(timed(1n * MS, { kind: 1, attributes: { "http.request.method": "GET" } })); // internal: no http metric
  m.record(timed(1n * MS, { kind: 2, attributes: { "rpc.method": "x" } })); // no HTTP attributes
  const batch = m.collect("cumulative");
  const s = metric(batch, "http.server.request.duration") as HistogramMetric;
  deepStrictEqual(s.points.map((p) => [p.attributes, p.count]), [
    [{
      "http.request.method": "GET",
      "http.route": "/cart/{id}",
      "server.port": 8080,
      "http.response.status_code": 503, // a safe bigint becomes a number: 200n and 200 are one series
      "error.type": "503",
    }, 1],
    [{
      "http.request.method": "GET",
      "http.route": "/cart/{id}",
      "server.port": 8080,
      "http.response.status_code": 200,
    }, 2],
  ]);
  const c = metric(batch, "http.client.request.duration") as HistogramMetric;
  deepStrictEqual(c.points.map((p) => [p.attributes, p.count]), [
    [{ "http.request.method": "POST", "server.address": "db", "server.port": 5432, "error.type": "_OTHER" }, 1],
  ]);
  strictEqual((metric(batch, SPAN_CALLS) as SumMetric).points.reduce((a, p) => a + p.value, 0), 6);
});

Deno.test("extra attributes from a probe spec's metrics: selection become dimensions", () => {
  const m = createSpanMetrics();
  for (const status of ["paid", "paid", "failed"]) {
    m.record(timed(MS, { name: "order", attributes: { "order.status": status, "order.id": status + "1" } }), [
      "order.status",
      "missing",
    ]);
  }
  const calls = metric(m.collect("cumulative"), SPAN_CALLS) as SumMetric;
  deepStrictEqual(calls.points.map((p) => [p.attributes["order.status"], p.value, "order.id" in p.attributes]), [
    ["paid", 2, false],
    ["failed", 1, false],
  ]);
});

Deno.test("cumulative vs delta: cumulative keeps totals; delta reports each interval once", () => {
  const clock = manualClock();
  const m = createSpanMetrics({ nowNs: clock.now });
  m.record(timed(2n * MS));
  m.record(timed(30n * MS));
  clock.advance(1000n);
  const d1 = metric(m.collect("delta"), SPAN_DURATION) as HistogramMetric;
  strictEqual(d1.temporality, "delta");
  strictEqual(d1.points[0].count, 2);
  strictEqual(d1.points[0].startNs, 1000n);
  strictEqual(d1.points[0].timeNs, 2000n);
  strictEqual(d1.points[0].min, 0.002);
  strictEqual(d1.points[0].max, 0.03);
  strictEqual(m.collect("delta").length, 0, "nothing new: no points");
  m.record(timed(7n * MS));
  clock.advance(500n);
  const d2 = metric(m.collect("delta"), SPAN_DURATION) as HistogramMetric;
  strictEqual(d2.points[0].count, 1);
  strictEqual(d2.points[0].sum, 0.007);
  strictEqual(d2.points[0].startNs, 2000n, "a delta interval starts where the previous ended");
  strictEqual(d2.points[0].min, 0.007);
  deepStrictEqual(d2.points[0].bucketCounts.slice(0, 4), [0, 0, 1, 0]);
  const calls = metric(m.collect("delta"), SPAN_CALLS);
  strictEqual(calls, undefined);
  // cumulative collection is independent of delta collection
  const c = metric(m.collect("cumulative"), SPAN_DURATION) as HistogramMetric;
  strictEqual(c.temporality, "cumulative");
  strictEqual(c.points[0].count, 3);
  strictEqual(c.points[0].startNs, 1000n);
  strictEqual(c.points[0].sum, 0.039);
  deepStrictEqual(c.points[0].bucketCounts.slice(0, 6), [0, 1, 1, 0, 1, 0]);
  strictEqual(c.points[0].min, 0.002);
  strictEqual(c.points[0].max, 0.03);
  const again = metric(m.collect("cumulative"), SPAN_DURATION) as HistogramMetric;
  strictEqual(again.points[0].count, 3, "cumulative collection changes nothing");
});

Deno.test("overflow: past the cardinality limit, points go to one otel.metric.overflow=true series, counted", () => {
  const seen: string[] = [];
  const m = createSpanMetrics({ cardinalityLimit: 3, onOverflow: (name) => seen.push(name) });
  for (let i = 0; i < 10; i++) m.record(timed(MS, { name: `op ${i}` }));
  m.record(timed(MS, { name: "op 1" })); // an existing series still counts
  const batch = m.collect("cumulative");
  const calls = metric(batch, SPAN_CALLS) as SumMetric;
  deepStrictEqual(calls.points.map((p) => [p.attributes["span.name"], p.value]), [
    ["op 0", 1],
    ["op 1", 2],
    ["op 2", 1],
  ]);
  const overflow = batch.find((r) => !("service.name" in r.resource))!;
  const oc = overflow.metrics.find((x) => x.name === SPAN_CALLS) as SumMetric;
  deepStrictEqual(oc.points.map((p) => [p.attributes, p.value]), [[{ "otel.metric.overflow": true }, 7]]);
  strictEqual(m.overflowed, 7);
  strictEqual(seen.length, 7);
  strictEqual(seen[0], SPAN_DURATION);
  // every point is somewhere: total calls = spans recorded
  const total = batch.flatMap((r) => r.metrics).filter((x) => x.name === SPAN_CALLS)
    .reduce((a, x) => a + (x as SumMetric).points.reduce((b, p) => b + p.value, 0), 0);
  strictEqual(total, 11);
});

Deno.test("memory stays bounded under 10^6 distinct paths and span names", () => {
  const m = createSpanMetrics();
  const resource = { attributes: { "service.name": "web" } };
  const before = Deno.memoryUsage().heapUsed;
  const n = 1_000_000;
  for (let i = 0; i < n; i++) {
    m.record({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      name: `GET /item/${i}`,
      kind: 2,
      startNs: T0,
      endNs: T0 + BigInt(i),
      attributes: { "http.request.method": "GET", "url.path": `/item/${i}`, "http.response.status_code": 200 },
      status: { code: 0 },
      resource,
    });
  }
  const grown = Deno.memoryUsage().heapUsed - before;
  // span metrics: 2,000 names + overflow; HTTP: one series (url.path is never an attribute)
  strictEqual(m.seriesCount, 2001 + 1);
  strictEqual(m.overflowed, n - 2000);
  assert(grown < 64 * 2 ** 20, `heap grew ${grown} bytes for 10^6 distinct paths`);
  const batch = m.collect("cumulative");
  const http = metric(batch, "http.server.request.duration", "web") as HistogramMetric;
  strictEqual(http.points.length, 1);
  strictEqual(http.points[0].count, n);
  assert(!("url.path" in http.points[0].attributes));
});

Deno.test("key tree: paths of values, types kept apart, absent values as undefined", () => {
  const t = new KeyTree<string>();
  t.set(["web", 200, undefined], 3, "int");
  t.set(["web", 200n, undefined], 3, "bigint");
  t.set(["web", "200", undefined], 3, "text");
  t.set(["web", 200, "x"], 3, "with x");
  deepStrictEqual(
    [[200], [200n], ["200"]].map((k) => t.get(["web", ...k, undefined], 3)),
    ["int", "bigint", "text"],
  );
  strictEqual(t.get(["web", 200, "x"], 3), "with x");
  strictEqual(t.get(["web", 201, undefined], 3), undefined);
  strictEqual(t.get(["api", 200, undefined], 3), undefined);
  // only the first `length` values count
  strictEqual(t.get(["web", 200, "x", "ignored"], 3), "with x");
});

Deno.test("extra attributes: spans of probes with different metrics: lists never share a series", () => {
  const m = createSpanMetrics();
  const attributes = { "order.status": "paid", "region": "paid" };
  m.record(timed(MS, { name: "op", attributes })); // a probe without metrics:
  m.record(timed(MS, { name: "op", attributes }), ["order.status"]);
  m.record(timed(MS, { name: "op", attributes }), ["region"]); // same value, another attribute
  m.record(timed(MS, { name: "op", attributes }), ["order.status", "region"]);
  m.record(timed(MS, { name: "op", attributes }), ["order.status"].slice()); // an equal list from elsewhere
  const calls = metric(m.collect("cumulative"), SPAN_CALLS) as SumMetric;
  deepStrictEqual(
    calls.points.map((
      p,
    ) => [Object.keys(p.attributes).filter((k) => !k.includes("span.") && k !== "status.code"), p.value]),
    [[[], 1], [["order.status"], 2], [["region"], 1], [["order.status", "region"], 1]],
  );
});
