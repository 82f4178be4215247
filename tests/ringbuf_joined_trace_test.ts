// Joined user+kernel trace end to end: rb_demo fires USDT probes carrying its
// W3C trace context; the BPF side emits the program's span and kernel child
// spans (syscalls, off-CPU time) under it. All arrive over OTLP sharing the
// trace id, with correct parents and times inside the request.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createOtlpHttpSink } from "../lib/export/otlp_http.ts";
import { sinkStream } from "../lib/export/sink.ts";
import { openRingbufProbe } from "../lib/sources/ringbuf/mod.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import { buildTarget } from "./support/ebpf.ts";
import { type ReceivedSpan, startOtlpReceiver } from "./support/otlp_receiver.ts";
import { buildProbe, ROOT, skipUnlessRoot } from "./ringbuf_support.ts";

const skip = skipUnlessRoot("tests/ringbuf_joined_trace_test.ts");
const REQUESTS = 5;

Deno.test({ name: "ringbuf e2e: joined user+kernel trace", ignore: skip }, async () => {
  const demo = await buildTarget("rb_demo");
  const receiver = await startOtlpReceiver();
  const counters = createCounters();
  const logger = createLogger({ level: "warn" });
  const sink = createOtlpHttpSink({ endpoint: receiver.url, scheduleDelayMs: 50, counters, logger });
  const run = await openRingbufProbe({
    objectPath: await buildProbe("joined-trace"),
    configPath: `${ROOT}probes/joined-trace.yaml`,
    logger,
    counters,
    attach: [["jt_req_start", "request_start"], ["jt_req_end", "request_end"]].map(([program, name]) => ({
      program,
      usdt: { binary: demo, provider: "rb_demo", name },
    })),
  });
  const piping = run.spans.pipeTo(sinkStream(sink));
  try {
    const out = await new Deno.Command(demo, { args: [String(REQUESTS), "3000"], stdout: "piped" }).output();
    assert(out.success);
    const requests = new TextDecoder().decode(out.stdout).trim().split("\n").map((line) => {
      const [traceparent, name] = line.split(" ");
      const [, traceId, spanId] = traceparent.split("-");
      return { traceId, spanId, name };
    });
    assertEquals(requests.length, REQUESTS);

    const byTrace = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
    const deadline = performance.now() + 10_000;
    // Wait until every request's own span and its off-CPU child have arrived.
    while (
      !requests.every((r) =>
        byTrace(r.traceId).some((s) => s.spanId === r.spanId) && byTrace(r.traceId).some((s) => s.name === "off_cpu")
      )
    ) {
      if (performance.now() > deadline) throw new Error("timed out waiting for the joined traces");
      await new Promise((r) => setTimeout(r, 50));
    }

    for (const r of requests) {
      const spans = byTrace(r.traceId);
      const root = spans.find((s) => s.spanId === r.spanId)!;
      assertEquals(root.name, r.name);
      assertEquals(root.parentSpanId, "", "the program's span is the root");
      assertEquals(root.resource["service.name"], "rb-demo");
      assert(root.endNs - root.startNs >= 3_000_000n, "the request slept 3 ms");
      const children = spans.filter((s) => s !== root);
      assert(children.length >= 8, `kernel children of ${r.name}: ${children.length}`);
      for (const c of children) {
        assertEquals(c.parentSpanId, root.spanId, `${c.name} is a child of the program's span`);
        assertEquals(c.resource["service.name"], "kernel");
        assert(/^[0-9a-f]{16}$/.test(c.spanId) && c.spanId !== root.spanId);
        assert(c.startNs >= root.startNs && c.endNs <= root.endNs, `${c.name} within the request`);
        assertEquals(c.attributes["thread.id"], root.attributes["thread.id"]);
      }
      const names = children.map((c) => c.name);
      for (const want of ["openat", "read", "write", "close", "clock_nanosleep", "off_cpu"]) {
        assert(names.includes(want), `${want} among ${names.join(",")}`);
      }
      const failed = children.find((c) => c.name === "openat" && c.attributes["syscall.errno"] === "ENOENT");
      assert(failed, "the failing open shows ENOENT");
      assertEquals(failed.status.code, 2, "and is marked failed (span_status_code)");
      for (const c of children.filter((c) => c.attributes["syscall.errno"] === "OK")) {
        assertEquals(c.status.code, 0, `${c.name} succeeded: status unset`);
      }
      const read = children.find((c) => c.name === "read")!;
      assertEquals(read.attributes["syscall.errno"], "OK");
      assert(Number(read.attributes["syscall.return"]) > 0, "read returned bytes");
      const sleep = children.find((c) => c.name === "clock_nanosleep")!;
      assert(sleep.endNs - sleep.startNs >= 3_000_000n);
      const offCpu = children.filter((c) => c.name === "off_cpu");
      // Off-CPU stretches: the sleep, plus any preemption on a busy machine.
      for (const o of offCpu) {
        assert(["sleeping", "preempted", "disk-sleep"].includes(String(o.attributes["sched.prev_state"])));
      }
      const slept = offCpu.find((o) => o.attributes["sched.prev_state"] === "sleeping");
      assert(slept, "the sleep shows as time off CPU, sleeping");
      assert(slept.startNs >= sleep.startNs && slept.endNs <= sleep.endNs, "off-CPU inside the sleep call");
    }
    // No stray spans: every span of these traces is the root or its child.
    const all: ReceivedSpan[] = requests.flatMap((r) => byTrace(r.traceId));
    assert(all.every((s) => requests.some((r) => s.spanId === r.spanId || s.parentSpanId === r.spanId)));
  } finally {
    await run.stop();
    await piping;
    await sink.shutdown(Date.now() + 5000);
    await receiver.close();
  }
  assertEquals(counters.get("decode_errors"), 0);
  assertEquals(counters.get("ringbuf_reserve_failures"), 0);
  const stats = run.stats();
  assertEquals(stats.records.request, REQUESTS);
});
