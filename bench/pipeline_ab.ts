/**
 * Before/after comparison of the bpftrace pipeline in ONE process: the same
 * recording through two source trees (e.g. a commit unpacked with
 * `git archive` and this checkout), runs interleaved and alternating in
 * order, CPU time measured per run. On a machine shared with other work,
 * rates of separate bench runs drift by ±30 %; CPU time of interleaved runs
 * in one process is comparable. Reports each tree's median CPU time and the
 * ratio B/A, once with a null sink (framing, parsing, events, span builder)
 * and once exporting over OTLP/HTTP to a loopback receiver in another
 * process.
 *
 *     git archive 0641ba6 | (mkdir -p /tmp/spanprobe-a && tar -x -C /tmp/spanprobe-a)
 *     deno run -A bench/pipeline_ab.ts /tmp/spanprobe-a . --rounds 7
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { ensureRecording } from "./support/recording.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { requests: { type: "string", default: "200000" }, rounds: { type: "string", default: "5" } },
});
if (positionals.length !== 2) {
  console.error("usage: deno run -A bench/pipeline_ab.ts TREE_A TREE_B [--rounds R] [--requests N]");
  Deno.exit(2);
}
const trees = positionals.map((p) => resolve(p));
const rounds = Number(values.rounds);
const requests = Number(values.requests);

// Pin to one core (CPU 0); the receiver runs on CPU 1.
if (!Deno.env.get("SPANPROBE_BENCH_PINNED")) {
  const child = new Deno.Command("taskset", {
    args: ["-c", "0", Deno.execPath(), "run", "-A", fileURLToPath(import.meta.url), ...Deno.args],
    env: { SPANPROBE_BENCH_PINNED: "1" },
  }).spawn();
  Deno.exit((await child.status).code);
}

await Deno.mkdir(`${root}.cache/bench`, { recursive: true });
const recording = `${root}.cache/bench/usdt-requests-${requests}.ndjson`;
await ensureRecording(recording, requests);
const bytes = await Deno.readFile(recording);

const receiver = new Deno.Command("taskset", {
  args: ["-c", "1", Deno.execPath(), "run", "--allow-net=127.0.0.1", `${root}bench/support/count_receiver.ts`],
  stdout: "piped",
}).spawn();
const port = Number((await receiver.stdout.pipeThrough(new TextDecoderStream()).getReader().read()).value!.trim());
const endpoint = `http://127.0.0.1:${port}/v1/traces`;

/** One tree's modules (each tree is its own module graph). */
async function load(tree: string) {
  const at = (p: string) => import(`file://${tree}/lib/${p}`);
  const { loadProbeSpec } = await at("config/probe_spec.ts");
  return {
    spec: await loadProbeSpec(`${tree}/probes/usdt-requests.yaml`),
    createOtlpHttpSink: (await at("export/otlp_http.ts")).createOtlpHttpSink,
    sinkStream: (await at("export/sink.ts")).sinkStream,
    bpftraceSpanPipeline: (await at("sources/bpftrace/mod.ts")).bpftraceSpanPipeline,
    createResourceCache: (await at("spans/resources.ts")).createResourceCache,
    createCounters: (await at("telemetry/counters.ts")).createCounters,
    silentLogger: (await at("telemetry/log.ts")).silentLogger,
  };
}
const mods = await Promise.all(trees.map(load));

/** CPU ms of one run of `m`'s pipeline over the recording. */
async function run(m: Awaited<ReturnType<typeof load>>, exporting: boolean): Promise<number> {
  const counters = m.createCounters();
  let offset = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      if (offset >= bytes.length) return c.close();
      c.enqueue(bytes.subarray(offset, offset + 65536));
      offset += 65536;
    },
  });
  let nulled = 0;
  const sink = exporting
    ? m.createOtlpHttpSink({ endpoint, counters, logger: m.silentLogger })
    : { push: (spans: unknown[]) => void (nulled += spans.length), flush: async () => {}, shutdown: async () => {} };
  const c0 = process.cpuUsage();
  await m.bpftraceSpanPipeline(source, {
    spec: m.spec,
    resources: m.createResourceCache({ hostName: "bench" }),
    logger: m.silentLogger,
    counters,
    params: { binary: "/usr/bin/app" },
  }).pipeTo(m.sinkStream(sink));
  await sink.shutdown(Date.now() + 60_000);
  const c = process.cpuUsage(c0);
  const want = exporting ? counters.get("spans_exported") : nulled;
  if (want !== requests) throw new Error(`expected ${requests} spans, got ${want}`);
  return (c.user + c.system) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`A = ${trees[0]}\nB = ${trees[1]}\n${requests} requests, ${rounds} interleaved rounds, CPU ms per run:`);
for (const exporting of [false, true]) {
  const cpu: number[][] = [[], []];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0]; // alternate who runs first
    for (const i of order) cpu[i].push(await run(mods[i], exporting));
  }
  const [a, b] = cpu.map(median);
  console.log(
    `  ${exporting ? "pipeline + OTLP/HTTP export" : "pipeline, null sink        "}  A ${a.toFixed(0)}  B ${
      b.toFixed(0)
    }  B/A ${(b / a).toFixed(3)}   (A: ${cpu[0].map((x) => x.toFixed(0)).join(" ")}; B: ${
      cpu[1].map((x) => x.toFixed(0)).join(" ")
    })`,
  );
}
receiver.kill();
Deno.exit(0);
