/**
 * The file sink: appends OTLP/JSON to a file, one `ExportTraceServiceRequest`
 * object per line (the OTLP file exporter format, readable by the collector's
 * `otlpjsonfile` receiver). Spans are batched like the OTLP/HTTP sink's.
 * Drops are counted as `export_queue_full`, `export_file_error` and
 * `export_shutdown`.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";
import { type Counters, createCounters } from "../telemetry/counters.ts";
import { type Logger, silentLogger } from "../telemetry/log.ts";
import { createBatchWorker } from "./batch_worker.ts";
import { encodeOtlpTraceJsonBytes } from "./otlp_json.ts";
import type { SpanSink } from "./sink.ts";

/** Options of {@linkcode createFileSink}. */
export interface FileSinkOptions {
  /** The file to append to (created when missing). */
  path: string;
  /** Spans per line at most; 512 by default. */
  maxBatchSpans?: number;
  /** How long a partial batch waits for more spans (ms); 200 by default. */
  scheduleDelayMs?: number;
  /** Spans queued at most; 100 000 by default. */
  maxQueueSpans?: number;
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
  const counters = options.counters ?? createCounters();
  const logger = options.logger ?? silentLogger;
  const scopeVersion = options.scopeVersion ?? "";
  let file: Deno.FsFile | undefined;

  async function exportBatch(batch: SpanData[]): Promise<void> {
    try {
      const line = encodeOtlpTraceJsonBytes(batch, scopeVersion, 1);
      line[line.length - 1] = 0x0a;
      file ??= await Deno.open(options.path, { append: true, create: true });
      await writeAll(file, line);
      counters.inc("export_batches_ok");
      counters.inc("spans_exported", batch.length);
    } catch (e) {
      counters.inc("export_batches_failed");
      counters.drop("export_file_error", batch.length);
      logger.warnLimited("file_sink_failed", "writing spans to file failed; spans dropped", {
        path: options.path,
        error: e,
        spans: batch.length,
      });
    }
  }

  const worker = createBatchWorker({
    maxBatchSpans: options.maxBatchSpans ?? 512,
    scheduleDelayMs: options.scheduleDelayMs ?? 200,
    maxQueueSpans: options.maxQueueSpans ?? 100_000,
    exportBatch,
    drop: (reason, n) => counters.drop(reason, n),
    onExportError: (e) => logger.error("file sink crashed", { error: e }),
  });

  let shutdownPromise: Promise<void> | undefined;
  return {
    push: (spans) => worker.push(spans),
    flush: (deadline) => worker.flush(deadline),
    shutdown(deadline) {
      shutdownPromise ??= (async () => {
        await worker.shutdown(deadline);
        file?.close();
        file = undefined;
      })();
      return shutdownPromise;
    },
  };
}
