/**
 * `deno task bench`: the bpftrace pipeline at full speed. Replays a recorded
 * bpftrace stream (≥ 1M lines of start/end pairs) through the whole pipeline
 * — framing, exact parsing, events, span builder, OTLP/protobuf encoding and
 * HTTP — to a loopback receiver in another process, with this process pinned
 * to one core. In the same run, a bare `JSON.parse` loop over the same lines
 * is the reference. Reports medians of several runs.
 *
 * Usage: deno run -A bench/pipeline_bench.ts [--requests N] [--runs R]
 * Also runs the ring-buffer benchmark (bench/ringbuf_bench.ts) when present and root.
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { loadProbeSpec } from "../lib/config/probe_spec.ts";
import { createOtlpHttpSink } from "../lib/export/otlp_http.ts";
import { sinkStream } from "../lib/export/sink.ts";
import { bpftraceSpanPipeline } from "../lib/sources/bpftrace_probe.ts";
import { createResourceCache } from "../lib/spans/resources.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { silentLogger } from "../lib/telemetry/log.ts";
import { ensureRecording } from "./support/recording.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const { values } = parseArgs({
  args: Deno.args,
  options: { requests: { type: "string", default: "500000" }, runs: { type: "string", default: "5" } },
});
const requests = Number(values.requests);
const runs = Number(values.runs);

// Pin to one core (CPU 0); the receiver runs on CPU 1.
if (!Deno.env.get("SPANPROBE_BENCH_PINNED")) {
  const child = new Deno.Command("taskset", {
    args: ["-c", "0", Deno.execPath(), "run", "-A", fileURLToPath(import.meta.url), ...Deno.args],
    env: { SPANPROBE_BENCH_PINNED: "1" },
  }).spawn();
  Deno.exit((await child.status).code);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

await Deno.mkdir(`${root}.cache/bench`, { recursive: true });
const recording = `${root}.cache/bench/usdt-requests-${requests}.ndjson`;
const lineCount = await ensureRecording(recording, requests);
const bytes = await Deno.readFile(recording);
console.log(`recording: ${fmt(lineCount)} lines, ${(bytes.length / 2 ** 20).toFixed(1)} MiB (${recording})`);

const receiver = new Deno.Command("taskset", {
  args: ["-c", "1", Deno.execPath(), "run", "--allow-net=127.0.0.1", `${root}bench/support/count_receiver.ts`],
  stdout: "piped",
}).spawn();
const reader = receiver.stdout.pipeThrough(new TextDecoderStream()).getReader();
const port = Number((await reader.read()).value!.trim());
const endpoint = `http://127.0.0.1:${port}/v1/traces`;

const spec = await loadProbeSpec(`${root}probes/usdt-requests.yaml`);
const text = new TextDecoder().decode(bytes);
const lines = text.split("\n").filter(Boolean);

function jsonParseReference(): number {
  const t0 = performance.now();
  let n = 0;
  for (const l of lines) n += JSON.parse(l).data.length;
  if (n === 0) throw new Error("unreachable");
  return lines.length / ((performance.now() - t0) / 1000);
}

async function pipelineRun(): Promise<{ eventsPerS: number; spansPerS: number; spans: number; events: number }> {
  const counters = createCounters();
  const chunkSize = 64 * 1024;
  let offset = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (offset >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(offset, offset + chunkSize));
      offset += chunkSize;
    },
  });
  const sink = createOtlpHttpSink({ endpoint, counters, logger: silentLogger });
  const t0 = performance.now();
  await bpftraceSpanPipeline(source, {
    spec,
    resources: createResourceCache({ hostName: "bench" }),
    logger: silentLogger,
    counters,
    params: { binary: "/usr/bin/app" },
  }).pipeTo(sinkStream(sink));
  await sink.shutdown(Date.now() + 60_000);
  const s = (performance.now() - t0) / 1000;
  const spans = counters.get("spans_exported");
  const events = counters.get("events_in");
  if (spans !== requests) {
    throw new Error(`expected ${requests} spans exported, got ${spans} (${JSON.stringify(counters.snapshot())})`);
  }
  return { eventsPerS: events / s, spansPerS: spans / s, spans, events };
}

await pipelineRun(); // warm-up
const ref: number[] = [];
const ev: number[] = [];
const sp: number[] = [];
for (let i = 0; i < runs; i++) {
  ref.push(jsonParseReference());
  const r = await pipelineRun();
  ev.push(r.eventsPerS);
  sp.push(r.spansPerS);
  console.log(
    `run ${i + 1}: JSON.parse ${fmt(ref[i])} lines/s | pipeline ${fmt(r.eventsPerS)} events/s, ${
      fmt(r.spansPerS)
    } spans/s`,
  );
}
const stats = await (await fetch(`http://127.0.0.1:${port}/`)).json();
receiver.kill("SIGTERM");
await receiver.status;
console.log(`\nbpftrace pipeline, one core, ${runs} runs (median):`);
console.log(`  bare JSON.parse reference: ${fmt(median(ref))} lines/s`);
console.log(
  `  full pipeline:             ${fmt(median(ev))} events/s, ${fmt(median(sp))} spans/s to OTLP/protobuf over loopback`,
);
console.log(`  ratio pipeline/JSON.parse: ${(median(ev) / median(ref)).toFixed(2)}`);
console.log(`  receiver got ${fmt(stats.requests)} requests, ${(stats.bytes / 2 ** 20).toFixed(1)} MiB`);
console.log(`  target ≥ 300,000 events/s: ${median(ev) >= 300_000 ? "met" : "NOT met"}`);
