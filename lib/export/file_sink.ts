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
import { localExporterOptions, type LocalOutputOptions, writeAll, writeResult } from "./local_output.ts";
import { encodeOtlpTraceJsonBytes } from "./otlp_json.ts";
import type { OtlpSendResult } from "./otlp_send.ts";
import { createReliableExporter } from "./reliable_exporter.ts";
import type { SpanSink } from "./sink.ts";

/** Options of {@linkcode createFileSink}; the batch bound is spans per line. */
export interface FileSinkOptions extends LocalOutputOptions {
  /** The file to append to (created when missing). */
  path: string;
  /** The instrumentation scope version (the agent's version). */
  scopeVersion?: string;
}

/** A sink appending OTLP/JSON lines to `options.path`; the file is opened on the first batch. */
export function createFileSink(options: FileSinkOptions): SpanSink {
  const scopeVersion = options.scopeVersion ?? "";
  let file: Deno.FsFile | undefined;

  function append(line: Uint8Array): Promise<OtlpSendResult> {
    return writeResult(async () => {
      file ??= await Deno.open(options.path, { append: true, create: true });
      await writeAll(file, line);
    });
  }

  const exporter = createReliableExporter({
    encode(spans) {
      const body = encodeOtlpTraceJsonBytes(spans, scopeVersion, 1);
      body[body.length - 1] = 0x0a;
      return { body, spans: spans.length, protocol: "http/json", gzip: false };
    },
    send: (batch) => append(batch.body),
    dropReason: () => "export_file_error",
    ...localExporterOptions(options),
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
