/**
 * End to end: span metrics from a real USDT target through real bpftrace and
 * spanprobe's CLI (under the launcher's permissions), to the loopback OTLP
 * receiver decoding `/v1/metrics`, and on the Prometheus endpoint of the same
 * run. Counts equal the spans produced, sums equal the target's own
 * durations exactly, buckets equal those durations bucketed, and the
 * Prometheus scrape agrees with the OTLP export.
 */
import assert, { deepStrictEqual, strictEqual } from "node:assert/strict";
import { bucketIndex, DEFAULT_DURATION_BOUNDS, DEFAULT_DURATION_BOUNDS_S } from "../lib/metrics/histogram.ts";
import {
  announceSkip,
  buildTarget,
  ebpfSkipReason,
  exitAndStderr,
  readTruth,
  ROOT,
  spawnSpanprobe,
} from "./support/ebpf.ts";
import { type FlatPoint, flattenPoints } from "./support/otlp_metrics.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { parsePrometheusText, sampleKey } from "./support/prometheus_text.ts";

const skip = announceSkip("e2e_metrics_test.ts", ebpfSkipReason());

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** What the truth says one series must hold. */
interface Expected {
  count: number;
  sumNs: bigint;
  buckets: number[];
}

function expectOf(durations: bigint[]): Expected {
  const buckets = new Array(DEFAULT_DURATION_BOUNDS_S.length + 1).fill(0);
  for (const d of durations) buckets[bucketIndex(DEFAULT_DURATION_BOUNDS, d)]++;
  return { count: durations.length, sumNs: durations.reduce((a, b) => a + b, 0n), buckets };
}

function checkHistogram(p: FlatPoint | undefined, e: Expected, what: string): void {
  assert(p?.histogram, `${what}: a histogram point`);
  strictEqual(p.value, BigInt(e.count), `${what}: count`);
  strictEqual(p.histogram.sum, Number(e.sumNs) / 1e9, `${what}: sum, exact from the target's durations`);
  deepStrictEqual(p.histogram.bucketCounts, e.buckets.map(BigInt), `${what}: buckets`);
  deepStrictEqual(p.histogram.explicitBounds, DEFAULT_DURATION_BOUNDS_S);
}

Deno.test({
  name: "span metrics e2e: usdt-requests → OTLP /v1/metrics and Prometheus, counts = spans produced, sums exact",
  ignore: skip,
  async fn() {
    const requests = 400;
    const target = await buildTarget("usdt_requests");
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-metrics-" });
    const receiver = await startOtlpReceiver();
    // the bundled spec, plus a metrics: section that adds the status code to the span metrics
    const spec = `${dir}/usdt-metrics.yaml`;
    await Deno.copyFile(`${ROOT}probes/usdt-requests.bt`, `${dir}/usdt-metrics.bt`);
    await Deno.writeTextFile(
      spec,
      (await Deno.readTextFile(`${ROOT}probes/usdt-requests.yaml`)).replace(
        /^script: .*$/m,
        "script: usdt-metrics.bt",
      ) +
        "metrics:\n  attributes: [http.response.status_code]\n",
    );
    const app = new Deno.Command(target, {
      args: [
        ...["--requests", String(requests), "--threads", "4", "--rate", "2000", "--error-every", "10"],
        ...["--truth", `${dir}/truth.txt`, "--wait-file", `${dir}/go`, "--linger-file", `${dir}/done`],
      ],
    }).spawn();
    const metricsPort = freePort();
    try {
      const args = [
        "run",
        ...["--probe", spec, "--binary", target, "--pid", String(app.pid)],
        ...["--endpoint", receiver.baseUrl, "--metrics", "both", "--metrics-port", String(metricsPort)],
        ...["--log-format", "json"],
      ];
      const env = { OTEL_METRIC_EXPORT_INTERVAL: "500" };
      const agent = spawnSpanprobe(args, env);
      const logs: Record<string, unknown>[] = [];
      const reading = (async () => {
        let carry = "";
        for await (const chunk of agent.stderr.pipeThrough(new TextDecoderStream())) {
          const lines = (carry + chunk).split("\n");
          carry = lines.pop()!;
          for (const line of lines.filter(Boolean)) {
            logs.push(JSON.parse(line));
            if (logs.at(-1)!.msg === "running") await Deno.writeTextFile(`${dir}/go`, "");
          }
        }
      })();
      const killer = setTimeout(() => agent.kill("SIGKILL"), 90_000);
      // every span has passed the agent (recorded before export) once the receiver has them all
      await receiver.waitForSpans(requests, 60_000);
      const scrape = parsePrometheusText(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text());
      await Deno.writeTextFile(`${dir}/done`, "");
      const status = await agent.status;
      clearTimeout(killer);
      await reading;
      strictEqual(status.code, 0, JSON.stringify(logs.slice(-5)));
      const truth = await readTruth(`${dir}/truth.txt`);
      strictEqual(truth.length, requests);
      strictEqual(receiver.spans.length, requests, "one span per request");
      const summary = logs.find((l) => l.msg === "summary")!;
      strictEqual(summary.spans_ended, requests);

      // OTLP: periodic cumulative exports, then the last one at shutdown holds every span
      assert(
        receiver.metricRequests.length >= 2,
        `periodic exports and the final one: ${receiver.metricRequests.length}`,
      );
      const all = receiver.metricRequests.map(flattenPoints);
      const calls = (points: FlatPoint[]) =>
        points.filter((p) => p.metric === "traces.span.metrics.calls").reduce((a, p) => a + p.value, 0n);
      for (let i = 1; i < all.length; i++) assert(calls(all[i]) >= calls(all[i - 1]), "cumulative never decreases");
      const points = all.at(-1)!;
      strictEqual(calls(points), BigInt(requests), "count(metric) = spans produced");
      assert(points.every((p) => p.temporality === 2 && p.resource["service.name"] === "usdt_requests"));

      const byStatus = new Map<number, bigint[]>();
      for (const t of truth) byStatus.set(t.status, [...byStatus.get(t.status) ?? [], t.durationNs]);
      deepStrictEqual([...byStatus.keys()].sort(), [200, 503]);
      for (const [code, durations] of byStatus) {
        const e = expectOf(durations);
        const statusCode = code >= 500 ? "STATUS_CODE_ERROR" : "STATUS_CODE_UNSET";
        const spanAttrs = {
          "span.name": "request",
          "span.kind": "SPAN_KIND_SERVER",
          "status.code": statusCode,
          "http.response.status_code": code,
        };
        const same = (p: FlatPoint, metric: string, attrs: Record<string, unknown>) =>
          p.metric === metric && JSON.stringify(p.attributes) === JSON.stringify(attrs);
        strictEqual(points.find((p) => same(p, "traces.span.metrics.calls", spanAttrs))?.value, BigInt(e.count));
        checkHistogram(points.find((p) => same(p, "traces.span.metrics.duration", spanAttrs)), e, `span ${code}`);
        const httpAttrs = code >= 500
          ? { "http.response.status_code": code, "error.type": String(code) }
          : { "http.response.status_code": code };
        checkHistogram(points.find((p) => same(p, "http.server.request.duration", httpAttrs)), e, `http ${code}`);
      }
      strictEqual(points.filter((p) => p.metric === "http.server.request.duration").length, 2);

      // Prometheus, scraped in the same run after every span: the same numbers
      let promSamples = 0;
      const promValue = (name: string, labels: Record<string, string>) =>
        scrape.samples.find((s) => sampleKey(s) === sampleKey({ name, labels }))?.value;
      for (const p of points) {
        const labels: Record<string, string> = { service_name: "usdt_requests" };
        for (const [k, v] of Object.entries(p.attributes)) labels[k.replace(/\./g, "_")] = String(v);
        if (!p.histogram) {
          strictEqual(promValue("traces_span_metrics_calls_total", labels), Number(p.value));
          promSamples++;
          continue;
        }
        const name = p.metric.replace(/\./g, "_") + "_seconds";
        strictEqual(promValue(`${name}_count`, labels), Number(p.value), `${name}_count ${JSON.stringify(labels)}`);
        strictEqual(promValue(`${name}_sum`, labels), p.histogram.sum);
        let cumulative = 0n;
        p.histogram.bucketCounts.forEach((c, i) => {
          cumulative += c;
          const le = i < DEFAULT_DURATION_BOUNDS_S.length ? String(DEFAULT_DURATION_BOUNDS_S[i]) : "+Inf";
          strictEqual(promValue(`${name}_bucket`, { ...labels, le }), Number(cumulative));
        });
        promSamples += 2 + p.histogram.bucketCounts.length;
      }
      strictEqual(promSamples, 2 + 2 * 18 + 2 * 18, "every OTLP point has its Prometheus samples");
      strictEqual(scrape.types.get("http_server_request_duration_seconds"), "histogram");
    } finally {
      try {
        app.kill("SIGKILL");
      } catch { /* exited */ }
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "span metrics e2e: spans the exporter drops are still counted once (metrics are what happened)",
  ignore: skip,
  async fn() {
    const requests = 300;
    const target = await buildTarget("usdt_requests");
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-metrics-" });
    // every trace request is refused (400: not retryable, the spans are dropped); metrics are accepted
    const receiver = await startOtlpReceiver({ behavior: { kind: "status", status: 400 } });
    try {
      const args = [
        "run",
        ...["--probe", "usdt-requests", "--binary", target],
        "--command",
        `${target} --requests ${requests} --threads 4 --rate 2000 --error-every 10 --truth ${dir}/truth.txt`,
        ...["--endpoint", receiver.baseUrl, "--protocol", "http/json", "--log-format", "json"],
      ];
      const out = await exitAndStderr(spawnSpanprobe(args));
      const logs = out.stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      strictEqual(out.code, 3, `spans were lost: exit 3; ${JSON.stringify(logs.slice(-5))}`);
      const summary = logs.find((l) => l.msg === "summary");
      strictEqual(summary.spans_ended, requests);
      strictEqual(summary.spans_exported ?? 0, 0, "the collector took no span");
      strictEqual(summary.dropped_export_http_400, requests, "every span dropped by the exporter, counted");
      strictEqual(receiver.spans.length, 0);
      const truth = await readTruth(`${dir}/truth.txt`);
      strictEqual(truth.length, requests);
      // default mode with a collector: both; the one export at shutdown holds every span
      strictEqual(receiver.metricRequests.length, 1);
      const points = flattenPoints(receiver.metricRequests[0]);
      const calls = points.filter((p) => p.metric === "traces.span.metrics.calls");
      strictEqual(calls.reduce((a, p) => a + p.value, 0n), BigInt(requests), "count(metric) = spans produced");
      const durations = points.filter((p) => p.metric === "traces.span.metrics.duration");
      const sumNs = truth.reduce((a, t) => a + t.durationNs, 0n);
      const errorsNs = truth.filter((t) => t.status >= 500).reduce((a, t) => a + t.durationNs, 0n);
      deepStrictEqual(
        durations.map((p) => [p.attributes["status.code"], p.histogram!.sum]).sort(),
        [["STATUS_CODE_ERROR", Number(errorsNs) / 1e9], ["STATUS_CODE_UNSET", Number(sumNs - errorsNs) / 1e9]],
      );
    } finally {
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
