/**
 * The console sink: one readable line per span on stdout (never stderr,
 * which belongs to the logger), e.g.
 *
 * ```
 * span "GET /cart" 2.503ms status=ERROR("upstream failed") kind=server trace=0af7…319c span=b7ad…3331 parent=00f0…02b7 http.response.status_code=503
 * ```
 *
 * It runs on the exporter core ({@linkcode createReliableExporter}) like the
 * other sinks: lines leave in batches (at once when a batch is full, else
 * within `scheduleDelayMs`), a stdout that does not keep up holds at most the
 * memory bounds and the rest is counted as `export_queue_full`; a failed
 * write is counted as `export_console_error`.
 * @module
 */
import { hexOf } from "../core/hex.ts";
import type { AttributeValue, SpanData } from "../core/span_data.ts";
import { localExporterOptions, type LocalOutputOptions, writeAll, writeResult } from "./local_output.ts";
import type { OtlpSendResult } from "./otlp_send.ts";
import { createReliableExporter } from "./reliable_exporter.ts";
import type { SpanSink } from "./sink.ts";

/** Options of {@linkcode createConsoleSink}; the bounds are per write (batch) and of the text held in memory. */
export interface ConsoleSinkOptions extends LocalOutputOptions {
  /** Where text goes (one or more whole lines); stdout by default. */
  write?: (text: string) => void;
  /** Longest attribute value shown, in characters (longer ones end in "…"); 200 by default. */
  maxValueLength?: number;
}

const STATUS_NAMES = ["UNSET", "OK", "ERROR"];
const KIND_NAMES = ["unspecified", "internal", "server", "client", "producer", "consumer"];
const UNITS: [bigint, string][] = [[1_000_000_000n, "s"], [1_000_000n, "ms"], [1_000n, "µs"]];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A duration in ns as a short decimal with a unit: `850ns`, `12.345µs`, `2.503ms`, `1.250s`. Exact, no float. */
export function formatDurationNs(ns: bigint): string {
  const sign = ns < 0n ? "-" : "";
  const abs = ns < 0n ? -ns : ns;
  for (const [unit, name] of UNITS) {
    if (abs >= unit) {
      const whole = abs / unit;
      const milli = (abs % unit) * 1000n / unit;
      return `${sign}${whole}.${milli.toString().padStart(3, "0")}${name}`;
    }
  }
  return `${sign}${abs}ns`;
}

// deno-lint-ignore no-control-regex
const PLAIN = /^[^\s"=\\\x00-\x1f\x7f]+$/;

/** `s` as is, or JSON-quoted when empty or holding spaces, quotes, `=`, `\` or control characters. */
function quoteIfNeeded(s: string): string {
  return PLAIN.test(s) ? s : JSON.stringify(s);
}

function valueText(v: AttributeValue, max: number): string {
  let text: string;
  if (typeof v === "string") text = v;
  else if (v instanceof Uint8Array) text = "0x" + hexOf(v, 0, v.length);
  else if (Array.isArray(v)) text = "[" + v.map((x) => valueText(x, max)).join(",") + "]";
  else text = String(v);
  if (text.length > max) text = text.slice(0, max) + "…";
  return typeof v === "string" ? quoteIfNeeded(text) : text;
}

/** One span as one line (without the newline). */
export function formatSpanLine(span: SpanData, maxValueLength = 200): string {
  const status = span.status;
  let line = `span ${quoteIfNeeded(span.name)} ${formatDurationNs(span.endNs - span.startNs)}`;
  line += ` status=${STATUS_NAMES[status.code] ?? status.code}`;
  if (status.message) line += `(${JSON.stringify(status.message)})`;
  line += ` kind=${KIND_NAMES[span.kind] ?? span.kind}`;
  line += ` trace=${span.traceId} span=${span.spanId} parent=${span.parentSpanId || "-"}`;
  for (const key in span.attributes) {
    line += ` ${quoteIfNeeded(key)}=${valueText(span.attributes[key], maxValueLength)}`;
  }
  for (const e of span.events ?? []) {
    line += ` event=${quoteIfNeeded(e.name)}@+${formatDurationNs(e.timeNs - span.startNs)}`;
  }
  return line;
}

const ABANDONED: OtlpSendResult = { ok: false, status: 0, retryable: true, error: "aborted" };

/** `write`'s result, or a cancelled send's once `signal` aborts (the write goes on unobserved). */
async function unlessAborted(write: Promise<OtlpSendResult>, signal: AbortSignal): Promise<OtlpSendResult> {
  if (signal.aborted) return ABANDONED;
  let onAbort = () => {};
  const gaveUp = new Promise<OtlpSendResult>((resolve) => {
    onAbort = () => resolve(ABANDONED);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([write, gaveUp]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** A sink printing one line per span. */
export function createConsoleSink(options: ConsoleSinkOptions = {}): SpanSink {
  const write = options.write;
  const max = options.maxValueLength ?? 200;

  function print(text: Uint8Array): Promise<OtlpSendResult> {
    return writeResult(() => write ? write(decoder.decode(text)) : writeAll(Deno.stdout, text));
  }

  return createReliableExporter({
    encode(spans) {
      let text = "";
      for (const span of spans) text += formatSpanLine(span, max) + "\n";
      // the OTLP fields of a batch do not apply: this body is text
      return { body: encoder.encode(text), spans: spans.length, protocol: "http/json", gzip: false };
    },
    // a stdout that blocks must not hold up shutdown: give up on the write when the deadline has passed
    send: (batch, signal) => unlessAborted(print(batch.body), signal),
    dropReason: () => "export_console_error",
    ...localExporterOptions(options),
    name: "console",
    target: {},
    gaugePrefix: "console_queue",
  });
}
