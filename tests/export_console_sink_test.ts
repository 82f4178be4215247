import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { createConsoleSink, formatDurationNs, formatSpanLine } from "../lib/export/console_sink.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { createCounters } from "../lib/telemetry/counters.ts";

function span(over: Partial<SpanData> = {}): SpanData {
  return {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    parentSpanId: "00f067aa0ba902b7",
    name: "GET /cart",
    kind: 2,
    startNs: 1795313354907507123n,
    endNs: 1795313354910010123n,
    attributes: { "http.response.status_code": 503, "url.path": "/cart" },
    status: { code: 2, message: "upstream failed" },
    resource: { attributes: {} },
    ...over,
  };
}

Deno.test("console: durations are exact with three decimals", () => {
  strictEqual(formatDurationNs(0n), "0ns");
  strictEqual(formatDurationNs(850n), "850ns");
  strictEqual(formatDurationNs(1_000n), "1.000µs");
  strictEqual(formatDurationNs(12_345n), "12.345µs");
  strictEqual(formatDurationNs(2_503_000n), "2.503ms");
  strictEqual(formatDurationNs(2_503_999n), "2.503ms");
  strictEqual(formatDurationNs(1_250_000_000n), "1.250s");
  strictEqual(formatDurationNs(86_400_000_000_000n), "86400.000s");
  strictEqual(formatDurationNs(-1_500n), "-1.500µs");
});

Deno.test("console: one readable line per span", () => {
  strictEqual(
    formatSpanLine(span()),
    'span "GET /cart" 2.503ms status=ERROR("upstream failed") kind=server ' +
      "trace=0af7651916cd43dd8448eb211c80319c span=b7ad6b7169203331 parent=00f067aa0ba902b7 " +
      "http.response.status_code=503 url.path=/cart",
  );
  strictEqual(
    formatSpanLine(span({
      name: "read",
      kind: 1,
      parentSpanId: undefined,
      status: { code: 0 },
      attributes: {
        "s": "two words",
        "q": 'a"b',
        "e": "",
        "u": "héllo",
        "b": true,
        "big": 12345678901234567890n,
        "d": 1.5,
        "bytes": new Uint8Array([0, 171, 255]),
        "arr": ["x", 1, "y z"],
      },
      events: [{ name: "retry", timeNs: 1795313354907508123n }],
    })),
    "span read 2.503ms status=UNSET kind=internal trace=0af7651916cd43dd8448eb211c80319c " +
      'span=b7ad6b7169203331 parent=- s="two words" q="a\\"b" e="" u=héllo b=true ' +
      'big=12345678901234567890 d=1.5 bytes=0x00abff arr=[x,1,"y z"] event=retry@+1.000µs',
  );
});

Deno.test("console: long values are cut", () => {
  const line = formatSpanLine(span({ attributes: { v: "x".repeat(500) } }), 10);
  strictEqual(line.endsWith(" v=xxxxxxxxxx…"), true, line);
});

Deno.test("console: the sink writes whole lines to its writer and counts them", async () => {
  const out: string[] = [];
  const counters = createCounters();
  const sink = createConsoleSink({ write: (t) => out.push(t), counters });
  await sink.push([span(), span({ name: "second" })]);
  await sink.push([]);
  await sink.flush();
  strictEqual(out.length, 1);
  const lines = out[0].split("\n");
  deepStrictEqual(lines.length, 3);
  strictEqual(lines[2], "");
  strictEqual(lines[1].startsWith("span second 2.503ms"), true);
  strictEqual(counters.get("spans_exported"), 2);
  await sink.shutdown();
  await sink.push([span()]);
  strictEqual(out.length, 1);
});

Deno.test("console: the default writer is stdout, never stderr", async () => {
  const code = `
    import { createConsoleSink } from ${JSON.stringify(new URL("../lib/export/console_sink.ts", import.meta.url).href)};
    const sink = createConsoleSink();
    sink.push([{ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", name: "x", kind: 1,
      startNs: 0n, endNs: 5n, attributes: {}, status: { code: 0 }, resource: { attributes: {} } }]);
    await sink.shutdown();
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  strictEqual(out.code, 0, decoder.decode(out.stderr));
  strictEqual(
    decoder.decode(out.stdout),
    "span x 5ns status=UNSET kind=internal trace=0af7651916cd43dd8448eb211c80319c span=b7ad6b7169203331 parent=-\n",
  );
  strictEqual(decoder.decode(out.stderr).includes("span x"), false);
});

Deno.test("console: a stdout nobody reads does not hold up shutdown; what it could not print is counted", async () => {
  const lib = (p: string) => JSON.stringify(new URL(`../lib/${p}`, import.meta.url).href);
  const code = `
    import { createConsoleSink } from ${lib("export/console_sink.ts")};
    import { createCounters } from ${lib("telemetry/counters.ts")};
    const counters = createCounters();
    const sink = createConsoleSink({ counters });
    const span = (i) => ({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", name: "x" + i,
      kind: 1, startNs: 0n, endNs: 5n, attributes: { "url.path": "/" + "y".repeat(100) }, status: { code: 0 },
      resource: { attributes: {} } });
    // about 10 MB of lines: far more than a pipe holds
    for (let b = 0; b < 50; b++) sink.push(Array.from({ length: 1000 }, (_, i) => span(b * 1000 + i)));
    const t0 = performance.now();
    await sink.shutdown(Date.now() + 300);
    const s = counters.snapshot();
    console.error(JSON.stringify({ tookMs: performance.now() - t0, exported: s.counters.spans_exported ?? 0, dropped: s.dropped }));
    Deno.exit(0);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdout: "piped", // never read until the child has exited
    stderr: "piped",
  }).spawn();
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  await child.stdout.cancel();
  strictEqual(status.code, 0, stderr);
  const r = JSON.parse(stderr.trim().split("\n").at(-1)!);
  // a 300 ms deadline; a shutdown waiting on the pipe would wait until the child exits, i.e. forever
  ok(r.tookMs < 30_000, `shutdown returned after ${r.tookMs} ms`);
  ok(r.dropped.export_shutdown > 0, stderr);
  strictEqual(r.exported + r.dropped.export_shutdown + (r.dropped.export_queue_full ?? 0), 50_000, stderr);
});
