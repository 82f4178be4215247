/**
 * The file sink: appends OTLP/JSON to a file, one `ExportTraceServiceRequest`
 * object per line (the OTLP file exporter format, readable by the collector's
 * `otlpjsonfile` receiver). It runs on the exporter core
 * ({@linkcode createReliableExporter}) like the OTLP/HTTP sink: the same
 * batching, span and byte bounds, backpressure and shutdown. A failed write
 * is not retried. Drops are counted as `export_queue_full`,
 * `export_file_error` and `export_shutdown`.
 * @module
 */
import { type Counters, createCounters } from "../telemetry/counters.ts";
import { type Logger, silentLogger } from "../telemetry/log.ts";
import { encodeOtlpTraceJsonBytes } from "./otlp_json.ts";
import type { OtlpSendResult } from "./otlp_send.ts";
import { createReliableExporter } from "./reliable_exporter.ts";
import type { SpanSink } from "./sink.ts";

/** Options of {@linkcode createFileSink}. */
export interface FileSinkOptions {
  /** The file to append to (created when missing). */
  path: string;
  /** Spans per line at most; 512 by default. */
  maxBatchSpans?: number;
  /** How long a partial batch waits for more spans (ms); 200 by default. */
  scheduleDelayMs?: number;
  /** Spans held in memory at most; 100 000 by default. */
  maxQueueSpans?: number;
  /** Encoded bytes held in memory at most; 64 MiB by default. */
  maxQueueBytes?: number;
  /** The instrumentation scope version (the agent's version). */
  scopeVersion?: string;
  counters?: Counters;
  logger?: Logger;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** A sink appending OTLP/JSON lines to `options.path`; the file is opened on the first batch. */
export function createFileSink(options: FileSinkOptions): SpanSink {
  const scopeVersion = options.scopeVersion ?? "";
  let file: Deno.FsFile | undefined;

  async function append(line: Uint8Array): Promise<OtlpSendResult> {
    try {
      file ??= await Deno.open(options.path, { append: true, create: true });
      await writeAll(file, line);
      return { ok: true, status: 0, retryable: false };
    } catch (e) {
      return { ok: false, status: 0, retryable: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  const exporter = createReliableExporter({
    encode(spans) {
      const body = encodeOtlpTraceJsonBytes(spans, scopeVersion, 1);
      body[body.length - 1] = 0x0a;
      return { body, spans: spans.length, protocol: "http/json", gzip: false };
    },
    send: (batch) => append(batch.body),
    dropReason: () => "export_file_error",
    maxBatchSpans: options.maxBatchSpans ?? 512,
    scheduleDelayMs: options.scheduleDelayMs ?? 200,
    maxQueueSpans: options.maxQueueSpans ?? 100_000,
    maxQueueBytes: options.maxQueueBytes,
    counters: options.counters ?? createCounters(),
    logger: options.logger ?? silentLogger,
    name: "file",
    target: { path: options.path },
    gaugePrefix: "file_queue",
  });

  let shutdownPromise: Promise<void> | undefined;
  return {
    push: (spans) => exporter.push(spans),
    flush: (deadline) => exporter.flush(deadline),
    shutdown(deadline) {
      shutdownPromise ??= (async () => {
        await exporter.shutdown(deadline);
        file?.close();
        file = undefined;
      })();
      return shutdownPromise;
    },
    failure: () => exporter.failure(),
  };
}
