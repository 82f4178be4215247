// exec-trace end to end: BPF ring buffer → spans → OTLP/HTTP → loopback receiver.
// Running a known command N times yields N spans with the right comm,
// filename, exit code and plausible durations; a traced child nests under it.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createOtlpHttpSink } from "../lib/export/otlp_http.ts";
import { sinkStream } from "../lib/export/sink.ts";
import { openRingbufProbe } from "../lib/sources/ringbuf/mod.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import { type ReceivedSpan, startOtlpReceiver } from "./support/otlp_receiver.ts";
import { buildProbe, ROOT, skipUnlessRoot } from "./ringbuf_support.ts";

const skip = skipUnlessRoot("tests/ringbuf_exec_trace_test.ts");
const N = 12;

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({ name: "ringbuf e2e: exec-trace spans over OTLP", ignore: skip }, async () => {
  // A uniquely named shell, so spans of other processes on the machine do not interfere.
  const dir = Deno.makeTempDirSync({ prefix: "rb_exec_" });
  const tag = crypto.randomUUID().slice(0, 6);
  const shell = `${dir}/rbsh_${tag}`;
  Deno.copyFileSync("/bin/sh", shell);
  Deno.chmodSync(shell, 0o755);
  const comm = `rbsh_${tag}`;

  const receiver = await startOtlpReceiver();
  const counters = createCounters();
  const logger = createLogger({ level: "warn" });
  const sink = createOtlpHttpSink({ endpoint: receiver.url, scheduleDelayMs: 50, counters, logger });
  const run = await openRingbufProbe({
    objectPath: await buildProbe("exec-trace"),
    configPath: `${ROOT}probes/exec-trace.yaml`,
    logger,
    counters,
  });
  const piping = run.spans.pipeTo(sinkStream(sink));
  const pids: number[] = [];
  const t0 = BigInt(Date.now()) * 1_000_000n;
  try {
    for (let i = 0; i < N; i++) {
      const child = new Deno.Command(shell, { args: ["-c", "/bin/sleep 0.02; exit 3"] }).spawn();
      pids.push(child.pid);
      const status = await child.status;
      assertEquals(status.code, 3);
    }
    const ours = (s: ReceivedSpan) => s.name === comm;
    const shells = await waitFor(`${N} ${comm} spans`, () => {
      const got = receiver.spans.filter(ours);
      return got.length >= N ? got : undefined;
    });
    const t1 = BigInt(Date.now()) * 1_000_000n;
    assertEquals(shells.length, N, "exactly one span per run");
    assertEquals(new Set(shells.map((s) => s.attributes["process.pid"])), new Set(pids), "one span per pid");
    assertEquals(new Set(shells.map((s) => s.traceId)).size, N, "each run is its own trace");
    for (const s of shells) {
      assertEquals(s.attributes["process.executable.path"], shell);
      assertEquals(s.attributes["process.exit.code"], 3);
      assertEquals(s.attributes["process.exit.signal"], 0);
      assertEquals(s.parentSpanId, "", "the test runner is not traced: root span");
      assertEquals(s.resource["service.name"], "exec-trace");
      const dur = s.endNs - s.startNs;
      // at least the 20 ms sleep; at most the test's own window (the bracket below), however loaded the machine
      assert(dur >= 20_000_000n, `duration ${dur} ns`);
      assert(s.startNs >= t0 - 50_000_000n && s.endNs <= t1 + 50_000_000n, "times are wall clock, within the test");
    }
    // The sleep each shell ran nests under the shell's span.
    const sleeps = await waitFor("the child sleep spans", () => {
      const got = receiver.spans.filter((s) => s.name === "sleep" && shells.some((p) => p.spanId === s.parentSpanId));
      return got.length >= N ? got : undefined;
    });
    for (const c of sleeps) {
      const parent = shells.find((p) => p.spanId === c.parentSpanId)!;
      assertEquals(c.traceId, parent.traceId);
      assertEquals(c.attributes["process.parent_pid"], parent.attributes["process.pid"]);
      assertEquals(c.attributes["process.exit.code"], 0);
      assertEquals(c.attributes["process.executable.path"], "/bin/sleep");
      assert(c.startNs >= parent.startNs && c.endNs <= parent.endNs, "child within parent");
      assert(c.endNs - c.startNs >= 20_000_000n);
    }
  } finally {
    await run.stop();
    await piping;
    await sink.shutdown(Date.now() + 5000);
    await receiver.close();
    Deno.removeSync(dir, { recursive: true });
  }
  assertEquals(counters.get("decode_errors"), 0);
  assertEquals(counters.get("ringbuf_reserve_failures"), 0);
  assert(counters.get("events_in") >= 2 * N);
  assertEquals(run.stats().links, 0);
});
