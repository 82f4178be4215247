/**
 * End to end: a real USDT target, real bpftrace, spanprobe's CLI, and a real
 * loopback OTLP receiver that decodes what was sent. Every request must
 * arrive as exactly one span whose start and end equal the target's own
 * ground truth to the nanosecond.
 */
import assert, { deepStrictEqual, strictEqual } from "node:assert/strict";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import type { ReceivedSpan } from "./support/otlp_receiver.ts";
import {
  announceSkip,
  buildTarget,
  ebpfSkipReason,
  hexOf,
  readTruth,
  runSpanprobe,
  spawnSpanprobe,
} from "./support/ebpf.ts";
import { followJsonLogs } from "./support/agent_logs.ts";

const skip = announceSkip("e2e_usdt_requests_test.ts", ebpfSkipReason());

async function runAgainstReceiver(
  protocol: "http/protobuf" | "http/json",
  requests: number,
  rate: number,
  extraArgs: string[] = [],
) {
  const target = await buildTarget("usdt_requests");
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-e2e-" });
  const truthPath = `${dir}/truth.txt`;
  const receiver = await startOtlpReceiver();
  try {
    const res = await runSpanprobe([
      "run",
      "--probe",
      "usdt-requests",
      "--binary",
      target,
      "--command",
      `${target} --requests ${requests} --threads 4 --rate ${rate} --error-every 10 --truth ${truthPath}`,
      "--endpoint",
      receiver.baseUrl,
      "--protocol",
      protocol,
      "--log-format",
      "json",
      ...extraArgs,
    ], { timeoutMs: 120_000 });
    assert(res.code === 0, `spanprobe exited ${res.code}:\n${res.stderr}`);
    const truth = await readTruth(truthPath);
    strictEqual(truth.length, requests, "the target wrote one truth line per request");
    return { truth, spans: receiver.spans.slice(), stderr: res.stderr, requests: receiver.requests.slice() };
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function checkAgainstTruth(truth: Awaited<ReturnType<typeof readTruth>>, spans: ReceivedSpan[]) {
  const byId = new Map<string, ReceivedSpan[]>();
  for (const s of spans) {
    const id = hexOf(s.attributes["request.id"]);
    byId.set(id, [...(byId.get(id) ?? []), s]);
  }
  strictEqual(spans.length, truth.length, "one span per request, no more, no less");
  for (const t of truth) {
    const got = byId.get(t.idHex);
    assert(got && got.length === 1, `request ${t.idHex}: expected exactly one span, got ${got?.length ?? 0}`);
    const s = got![0];
    strictEqual(s.name, "request");
    strictEqual(s.kind, 2, "SERVER");
    strictEqual(s.startNs, t.startNs, `start of ${t.idHex}`);
    strictEqual(s.endNs, t.startNs + t.durationNs, `end of ${t.idHex}`);
    strictEqual(Number(s.attributes["http.response.status_code"]), t.status);
    if (t.status >= 500) {
      strictEqual(s.status.code, 2, `request ${t.idHex} failed: status ERROR`);
      strictEqual(s.status.message, 'backend said "no"');
      deepStrictEqual(s.events.map((e) => e.name), ["exception"]);
      // the error's time is the program's own wall clock, passed as a probe argument: exact,
      // whatever the machine's clock did meanwhile
      strictEqual(s.events[0].timeNs, t.errorNs, `exception time of ${t.idHex}`);
    } else {
      strictEqual(s.status.code, 0, `request ${t.idHex} succeeded: status UNSET`);
    }
    assert(/^[0-9a-f]{32}$/.test(s.traceId) && !/^0+$/.test(s.traceId));
    assert(/^[0-9a-f]{16}$/.test(s.spanId));
    strictEqual(s.resource["process.executable.name"], "usdt_requests");
    strictEqual(s.resource["service.name"], "usdt_requests");
    assert(typeof s.resource["process.pid"] === "number" || typeof s.resource["process.pid"] === "bigint");
    assert(s.resource["host.name"], "host.name set");
  }
}

Deno.test({
  name: "usdt-requests → OTLP http/protobuf: one span per request, timestamps exact, errors marked",
  ignore: skip,
  async fn() {
    const { truth, spans, requests } = await runAgainstReceiver("http/protobuf", 200, 400);
    checkAgainstTruth(truth, spans);
    assert(requests.every((r) => r.contentType.startsWith("application/x-protobuf")));
    // ids with quotes, backslashes, tabs, newlines, UTF-8 and invalid bytes arrived intact
    const ids = new Set(truth.map((t) => t.idHex));
    assert(ids.has(hexOf('q"0\\3\tt')) && ids.has(hexOf("nl\n0-4")) && ids.has(hexOf("café-0-5")));
    assert(spans.some((s) => s.attributes["request.id"] instanceof Uint8Array), "non-UTF-8 id sent as bytes");
  },
});

Deno.test({
  name: "usdt-requests → OTLP http/json with gzip: same guarantees",
  ignore: skip,
  async fn() {
    const { truth, spans, requests } = await runAgainstReceiver("http/json", 200, 400, ["--compression", "gzip"]);
    checkAgainstTruth(truth, spans);
    assert(requests.every((r) => r.contentType.startsWith("application/json")));
    assert(requests.every((r) => r.contentEncoding === "gzip"));
  },
});

Deno.test({
  name: "usdt-requests at 2k requests/s: nothing lost",
  ignore: skip,
  async fn() {
    const { truth, spans, stderr } = await runAgainstReceiver("http/protobuf", 6000, 2000);
    checkAgainstTruth(truth, spans);
    const summary = stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === "summary");
    assert(summary, "a final summary line");
    strictEqual(summary.events_in, 2 * 6000 + 6000 / 10, "every event counted in");
    strictEqual(summary.spans_exported, 6000);
    strictEqual(summary.bpftrace_lost_events ?? 0, 0);
  },
});

Deno.test({
  name: "--pid: attach to a running process; ready means attached (no request missed); exits with the target",
  ignore: skip,
  async fn() {
    const target = await buildTarget("usdt_requests");
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-pid-" });
    const receiver = await startOtlpReceiver();
    const app = new Deno.Command(target, {
      args: [
        "--requests",
        "300",
        "--threads",
        "3",
        "--rate",
        "3000",
        "--truth",
        `${dir}/truth.txt`,
        "--wait-file",
        `${dir}/go`,
      ],
    }).spawn();
    try {
      const args = [
        "run",
        "--probe",
        "usdt-requests",
        "--binary",
        target,
        "--pid",
        String(app.pid),
        "--endpoint",
        receiver.baseUrl,
        "--log-format",
        "json",
      ];
      const { code, logs } = await followJsonLogs(spawnSpanprobe(args), async (l) => {
        if (l.msg === "running") await Deno.writeTextFile(`${dir}/go`, "");
      });
      strictEqual(code, 0, JSON.stringify(logs));
      strictEqual((await app.status).code, 0);
      const truth = await readTruth(`${dir}/truth.txt`);
      checkAgainstTruth(truth, receiver.spans);
      assert(logs.findIndex((l) => l.msg === "probes attached") < logs.findIndex((l) => l.msg === "running"));
    } finally {
      try {
        app.kill("SIGKILL");
      } catch { /* exited */ }
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
