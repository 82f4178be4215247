import { deepStrictEqual, strictEqual } from "node:assert";
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
