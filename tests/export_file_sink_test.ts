import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { createFileSink } from "../lib/export/file_sink.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import { decodeTraceRequestJson, expectedRequest, flattenSpans, sampleSpans } from "./support/otlp_receiver.ts";

const resource = { attributes: { "service.name": "file-test" } };

function spans(n: number, from = 0): SpanData[] {
  return Array.from({ length: n }, (_, i) => ({
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: (from + i + 1).toString(16).padStart(16, "0"),
    name: `op${from + i}`,
    kind: 1,
    startNs: 1795313354907507123n,
    endNs: 1795313354907507124n,
    attributes: {},
    status: { code: 0 },
    resource,
  }));
}

async function lines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  strictEqual(text.endsWith("\n"), true);
  return text.slice(0, -1).split("\n");
}

Deno.test("file: one OTLP/JSON request per line, appended", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/spans.jsonl`;
    await Deno.writeTextFile(path, "");
    const counters = createCounters();
    const sink = createFileSink({ path, scopeVersion: "1.2.3", counters });
    const input = sampleSpans();
    sink.push(input);
    await sink.flush();
    sink.push(spans(2));
    await sink.shutdown();
    const got = await lines(path);
    strictEqual(got.length, 2);
    deepStrictEqual(decodeTraceRequestJson(got[0]), expectedRequest(input, "1.2.3"));
    deepStrictEqual(flattenSpans(decodeTraceRequestJson(got[1])).map((s) => s.name), ["op0", "op1"]);
    strictEqual(counters.get("spans_exported"), input.length + 2);
    strictEqual(counters.get("export_batches_ok"), 2);

    // A second sink appends to what is there.
    const again = createFileSink({ path });
    again.push(spans(1, 10));
    await again.shutdown();
    strictEqual((await lines(path)).length, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file: batches by size and by time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/spans.jsonl`;
    const sink = createFileSink({ path, maxBatchSpans: 4, scheduleDelayMs: 50 });
    const started = performance.now();
    sink.push(spans(10));
    // Two full lines at once, the last two spans after the schedule delay, without any flush.
    let got: string[] = [];
    while (performance.now() - started < 3000) {
      got = await lines(path).catch(() => []);
      if (got.length === 3) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    ok(performance.now() - started >= 45, "the partial batch waited");
    deepStrictEqual(got.map((l) => flattenSpans(decodeTraceRequestJson(l)).length), [4, 4, 2]);
    deepStrictEqual(
      got.flatMap((l) => flattenSpans(decodeTraceRequestJson(l)).map((s) => s.name)),
      spans(10).map((s) => s.name),
    );
    await sink.shutdown();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file: an unwritable path drops and counts", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const counters = createCounters();
    const logs: string[] = [];
    const sink = createFileSink({
      path: `${dir}/missing-dir/spans.jsonl`,
      counters,
      logger: createLogger({ write: (l) => logs.push(l) }),
    });
    sink.push(spans(3));
    await sink.shutdown();
    strictEqual(counters.dropped("export_file_error"), 3);
    strictEqual(counters.get("export_batches_failed"), 1);
    strictEqual(logs.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
