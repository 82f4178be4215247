/**
 * `--metrics` through the real CLI under the launcher's permissions, with
 * bpftrace replaced by a replay of its output (`writeFakeBpftrace`):
 * durations chosen on bucket edges arrive in the right buckets with exact
 * sums; metrics go to their own `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (the
 * permission set must allow it) with delta temporality; `--metrics off`
 * sends none; span metrics lost to an endpoint still down at exit make the
 * exit code 3; a bad choice is a usage error.
 */
import assert, { deepStrictEqual, strictEqual } from "node:assert/strict";
import { exitAndStderr, spawnSpanprobe } from "./support/ebpf.ts";
import { flattenPoints } from "./support/otlp_metrics.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { REPLAY_START_NS, writeFakeBpftrace } from "./support/replay.ts";

const MS = 1_000_000n;
/** On and around bucket edges: 0, 5 ms, 5 ms + 1 ns, 10 s, 10 s + 1 ns, and 503s at 1 ms. */
const DURATIONS: [bigint, number][] = [
  [0n, 200],
  [5n * MS, 200],
  [5n * MS + 1n, 200],
  [10_000n * MS, 200],
  [10_000n * MS + 1n, 200],
  [1n * MS, 503],
  [1n * MS, 503],
];

/** The stand-in bpftrace in `dir`, replaying one request per entry of {@linkcode DURATIONS}. */
async function fakeBpftrace(dir: string): Promise<string> {
  const start = REPLAY_START_NS;
  let text = `{"type": "value", "data": ["__spanprobe_clock", 1000000000, "1795313000.000000"]}\n`;
  DURATIONS.forEach(([d, status], i) => {
    text += `{"type": "value", "data": ["request_start", 4242, 4243, "r-${i}", ${start + BigInt(i)}]}\n`;
    text += `{"type": "value", "data": ["request_end", 4242, 4243, "r-${i}", ${start + BigInt(i)}, ${d}, ${status}]}\n`;
  });
  const path = `${dir}/replay.ndjson`;
  await Deno.writeTextFile(path, text);
  return await writeFakeBpftrace(dir, path);
}

async function runAgent(fake: string, args: string[], env: Record<string, string> = {}) {
  const all = [
    "run",
    "--probe",
    "usdt-requests",
    "--binary",
    fake,
    "--bpftrace",
    fake,
    "--log-format",
    "json",
    ...args,
  ];
  return await exitAndStderr(spawnSpanprobe(all, env));
}

Deno.test("--metrics otlp to its own endpoint, delta: bucket edges and sums exact through the CLI", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-metrics-cli-" });
  const receiver = await startOtlpReceiver();
  try {
    const fake = await fakeBpftrace(dir);
    const env = {
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.baseUrl}/v1/metrics`,
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "delta",
    };
    // spans on the console; span metrics over OTLP only
    const res = await runAgent(fake, ["--metrics", "otlp"], env);
    strictEqual(res.code, 0, res.stderr);
    strictEqual(receiver.spans.length, 0, "no spans went to the collector");
    strictEqual(receiver.metricRequests.length, 1, "one export, at shutdown");
    const points = flattenPoints(receiver.metricRequests[0]);
    assert(points.every((p) => p.temporality === 1), "DELTA");
    const ok = points.find((p) =>
      p.metric === "http.server.request.duration" && p.attributes["http.response.status_code"] === 200
    )!;
    deepStrictEqual(
      ok.histogram!.bucketCounts,
      [1n, 1n, 1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 1n, 1n],
      "0 → le=0, 5 ms → le=0.005, 5 ms + 1 ns → le=0.01, 10 s → le=10, 10 s + 1 ns → +Inf",
    );
    strictEqual(ok.histogram!.sum, Number(5n * MS + 5n * MS + 1n + 10_000n * MS + 10_000n * MS + 1n) / 1e9);
    strictEqual(ok.histogram!.min, 0);
    strictEqual(ok.histogram!.max, 10.000000001);
    const failed = points.find((p) =>
      p.metric === "http.server.request.duration" && p.attributes["http.response.status_code"] === 503
    )!;
    deepStrictEqual(failed.attributes, { "http.response.status_code": 503, "error.type": "503" });
    strictEqual(failed.value, 2n);
    const calls = points.filter((p) => p.metric === "traces.span.metrics.calls");
    strictEqual(calls.reduce((a, p) => a + p.value, 0n), BigInt(DURATIONS.length));
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--metrics off: spans go to the collector, no metrics request", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-metrics-cli-" });
  const receiver = await startOtlpReceiver();
  try {
    const res = await runAgent(await fakeBpftrace(dir), ["--endpoint", receiver.baseUrl, "--metrics", "off"]);
    strictEqual(res.code, 0, res.stderr);
    strictEqual(receiver.spans.length, DURATIONS.length);
    strictEqual(receiver.metricRequests.length, 0);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--metrics: a bad choice, or prometheus without --metrics-port, is a usage error (exit 2)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-metrics-cli-" });
  try {
    const fake = await fakeBpftrace(dir);
    const bad = await runAgent(fake, ["--metrics", "all"]);
    strictEqual(bad.code, 2);
    assert(/--metrics all: expected one of off, otlp, prometheus, both/.test(bad.stderr), bad.stderr);
    const noPort = await runAgent(fake, ["--metrics", "prometheus"]);
    strictEqual(noPort.code, 2);
    assert(/--metrics prometheus: .*--metrics-port/.test(noPort.stderr), noPort.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("span metrics lost to a metrics endpoint still down at exit: exit 3, logged, counted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-metrics-cli-" });
  const receiver = await startOtlpReceiver({ behavior: "down" });
  try {
    const res = await runAgent(await fakeBpftrace(dir), ["--metrics", "otlp", "--flush-timeout", "500"], {
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.baseUrl}/v1/metrics`,
    });
    strictEqual(res.code, 3, res.stderr);
    const logs = res.stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const lost = logs.find((l) => l.msg === "span metrics were lost because the metrics endpoint is failing");
    assert(lost && /^unreachable: /.test(lost.output) && lost.requestsDropped === 1, res.stderr);
    strictEqual(logs.find((l) => l.msg === "summary").metrics_exports_failed, 1);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});
