/**
 * Go execution trace benchmark: parse and map throughput on a generated
 * trace of at least 50 MB (Go 1.25 format: 8 Ms, several generations, a mix
 * of scheduling, heap, GC and annotation events like a busy server's), one
 * core, three passes over the same bytes in the same run:
 *
 * - `varints`: the reference, a bare pass decoding every uvarint of the
 *   event batches (no event types, no state): the floor any parser pays;
 * - `parse`: header, generations, tables and the event walk with scheduling
 *   state and record extraction (no spans);
 * - `parse+map`: the whole conversion to `SpanData` (ids, attributes, stack
 *   frames, wall clock).
 *
 * The process re-runs itself pinned to CPU 0 (`taskset`), V8's GC helper
 * threads included.
 *
 * Reports MiB/s and spans/s per second of wall time and per second of
 * process CPU time (getrusage: the machine is shared, CPU time is the steadier
 * figure), best of `--rounds`, and the ratios to `varints` (CPU).
 *
 *   deno run -A bench/gotrace_bench.ts [--mb=50] [--rounds=3]
 * @module
 */
import { fileURLToPath } from "node:url";
import { processCpuUs } from "../lib/ffi/libc.ts";
import { Ev } from "../lib/sources/gotrace/event_types.ts";
import { walkGeneration } from "../lib/sources/gotrace/event_walk.ts";
import { readGenerations } from "../lib/sources/gotrace/generations.ts";
import { readHeader } from "../lib/sources/gotrace/header.ts";
import { parseGoTrace } from "../lib/sources/gotrace/parse_trace.ts";
import { Scheduler } from "../lib/sources/gotrace/scheduler.ts";
import { GoTraceWriter } from "../tests/support/gotrace_writer.ts";

function arg(name: string, fallback: number): number {
  const hit = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.slice(name.length + 3)) : fallback;
}

/** A trace of about `mb` MB: per generation 8 Ms, each running goroutines that open tasks, regions and logs. */
export function generateTrace(mb: number): Uint8Array {
  const w = new GoTraceWriter(25);
  const target = mb * 1024 * 1024;
  let gen = 1;
  let tick = 1_000_000;
  let task = 1;
  let goid = 100;
  let gcSeq = 1;
  while (w.sink.length < target) {
    const g = w.generation(gen, 15_625_000n, BigInt(tick), {
      dt: 0,
      mono: BigInt(tick) * 64n,
      sec: 1_750_000_000n + BigInt(gen),
      nsec: 0n,
    });
    const names = ["handle /api/orders", "db.query", "render", "cache.get", "auth"];
    const ids = names.map((n) => g.str(n));
    const reasons = [g.str("chan receive"), g.str("sync"), g.str("network")];
    const stacks = [0, 1, 2, 3].map((k) =>
      g.stack([
        { func: `main.handler${k}`, file: "/app/server.go", line: 100 + k },
        { func: "net/http.HandlerFunc.ServeHTTP", file: "/go/src/net/http/server.go", line: 2166 },
        { func: "net/http.(*conn).serve", file: "/go/src/net/http/server.go", line: 2009 },
      ])
    );
    const keyId = g.str("order");
    const valueId = g.str("id=12345");
    const batches = [];
    for (let m = 0; m < 8; m++) {
      const b = g.batch(BigInt(10 + m), BigInt(tick));
      b.ev(Ev.ProcStatus, 1, m, 1).ev(Ev.GoStatus, 1, goid + m, 10 + m, 2);
      batches.push(b);
    }
    const genStart = w.sink.length;
    // ~10 MB per generation
    for (let round = 0; w.sink.length - genStart < 10 * 1024 * 1024 && w.sink.length < target; round++) {
      for (let m = 0; m < 8; m++) {
        const b = batches[m];
        const me = goid + m;
        const t = task++;
        const st = stacks[round & 3];
        b.ev(Ev.UserTaskBegin, 3, t, 0, ids[0], st);
        b.ev(Ev.UserRegionBegin, 2, t, ids[1], st);
        b.ev(Ev.HeapAlloc, 5, 4_000_000 + round);
        b.ev(Ev.GoBlock, 7, reasons[round % 3], st);
        b.ev(Ev.GoUnblock, 40, me, 1, st);
        b.ev(Ev.GoStart, 2, me, 2);
        b.ev(Ev.UserRegionEnd, 9, t, ids[1], st);
        b.ev(Ev.UserRegionBegin, 1, t, ids[2], st);
        b.ev(Ev.UserLog, 4, t, keyId, valueId, st);
        b.ev(Ev.UserRegionBegin, 1, t, ids[3], 0);
        b.ev(Ev.UserRegionEnd, 6, t, ids[3], 0);
        b.ev(Ev.UserRegionEnd, 3, t, ids[2], st);
        b.ev(Ev.GoSyscallBegin, 2, 1, st);
        b.ev(Ev.GoSyscallEnd, 12);
        b.ev(Ev.UserTaskEnd, 3, t, st);
        if (round % 500 === 0 && m === 0) {
          b.ev(Ev.GCBegin, 1, gcSeq, st).ev(Ev.GCSweepBegin, 1, st).ev(Ev.GCSweepEnd, 30, 8192, 4096);
          b.ev(Ev.GCEnd, 200, gcSeq++);
        }
      }
    }
    for (const b of batches) tick = Math.max(tick, Number(b.now));
    g.end();
    gen++;
    goid += 8;
    tick += 1000;
  }
  return w.bytes();
}

/** The reference: decode every uvarint in the event batches, nothing else. */
function varintPass(bytes: Uint8Array): number {
  const version = readHeader(bytes);
  let sum = 0;
  for (const g of readGenerations(bytes, version).generations()) {
    for (const b of g.batches) {
      let p = b.start;
      while (p < b.end) {
        let v = 0;
        let mul = 1;
        for (;;) {
          const x = bytes[p++];
          v += (x & 0x7f) * mul;
          if (x < 0x80) break;
          mul *= 128;
        }
        sum += v;
      }
    }
  }
  return sum;
}

function parsePass(bytes: Uint8Array): number {
  const version = readHeader(bytes);
  const sched = new Scheduler();
  let records = 0;
  for (const g of readGenerations(bytes, version).generations()) {
    records += walkGeneration(bytes, g, version, sched, { goroutineStates: false, ranges: true }).records.length;
  }
  return records;
}

function mapPass(bytes: Uint8Array): number {
  let spans = 0;
  parseGoTrace(bytes, {
    resourceAttributes: { "service.name": "bench" },
    anchorNs: 0n,
    onSpans: (s) => spans += s.length,
  });
  return spans;
}

function best(rounds: number, f: () => number): { ms: number; cpuMs: number; out: number } {
  let ms = Infinity;
  let cpuMs = Infinity;
  let out = 0;
  for (let i = 0; i < rounds; i++) {
    const c0 = processCpuUs();
    const t0 = performance.now();
    out = f();
    ms = Math.min(ms, performance.now() - t0);
    cpuMs = Math.min(cpuMs, (processCpuUs() - c0) / 1000);
  }
  return { ms, cpuMs, out };
}

if (import.meta.main && !Deno.env.get("SPANPROBE_BENCH_PINNED")) {
  // one core: re-run pinned to CPU 0 (GC helper threads share it)
  const child = new Deno.Command("taskset", {
    args: ["-c", "0", Deno.execPath(), "run", "-A", fileURLToPath(import.meta.url), ...Deno.args],
    env: { SPANPROBE_BENCH_PINNED: "1" },
  }).spawn();
  Deno.exit((await child.status).code);
}

if (import.meta.main) {
  const mb = arg("mb", 50);
  const rounds = arg("rounds", 3);
  const t0 = performance.now();
  const bytes = generateTrace(mb);
  const size = bytes.length / (1024 * 1024);
  console.log(`generated ${size.toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const ref = best(rounds, () => varintPass(bytes));
  const parse = best(rounds, () => parsePass(bytes));
  const map = best(rounds, () => mapPass(bytes));
  const mbs = (ms: number) => size / (ms / 1000);
  const spansPerS = (ms: number) => `${(map.out / (ms / 1000) / 1e6).toFixed(2)}M spans/s`;
  const rows = [
    ["varints (reference)", ref, ""],
    ["parse", parse, `${parse.out} records`],
    ["parse+map", map, `${map.out} spans: ${spansPerS(map.ms)} wall, ${spansPerS(map.cpuMs)} CPU`],
  ] as const;
  console.log(`gotrace bench: ${size.toFixed(1)} MiB, best of ${rounds}, pinned to CPU 0`);
  for (const [name, r, extra] of rows) {
    console.log(
      `  ${name.padEnd(20)} ${r.ms.toFixed(0).padStart(6)} ms wall ${mbs(r.ms).toFixed(1).padStart(6)} MiB/s | ${
        r.cpuMs.toFixed(0).padStart(6)
      } ms CPU ${mbs(r.cpuMs).toFixed(1).padStart(6)} MiB/s  ratio ${(ref.cpuMs / r.cpuMs).toFixed(2)}  ${extra}`,
    );
  }
}
