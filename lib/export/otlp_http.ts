/**
 * The OTLP/HTTP sink: batches spans, encodes them (protobuf or JSON,
 * optionally gzip), POSTs them and retries what the OTLP spec calls
 * retryable (429, 502, 503, 504, no answer) with exponential backoff and
 * jitter, honoring `Retry-After`, up to `maxAttempts`. Everything not
 * delivered is counted as dropped with a reason:
 *
 * - `export_queue_full`: the queue (`maxQueueSpans`) was full; newest refused
 * - `export_http_<status>`: the server refused the batch (after retries when retryable)
 * - `export_network_error`, `export_timeout`: no answer, after retries
 * - `export_rejected`: the server accepted the batch but rejected some spans (partial success)
 * - `export_shutdown`: still queued or in flight when shutdown gave up
 * - `export_encode_error`, `export_internal_error`: a bug; logged
 * @module
 */
import type { SpanData } from "../spans/span_data.ts";
import { type Counters, createCounters } from "../telemetry/counters.ts";
import { type Logger, silentLogger } from "../telemetry/log.ts";
import { backoffDelayMs, sleep } from "./backoff.ts";
import { createBatchWorker, type ExportContext } from "./batch_worker.ts";
import { encodeOtlpTraceJsonBytes } from "./otlp_json.ts";
import { encodeOtlpTraceProto } from "./otlp_proto.ts";
import { gzipBytes, type OtlpProtocol, type OtlpSendResult, sendOtlpRequest } from "./otlp_send.ts";
import type { SpanSink } from "./sink.ts";

export { type OtlpProtocol, type OtlpSendResult, sendOtlpRequest } from "./otlp_send.ts";

/** Options of {@linkcode createOtlpHttpSink}. */
export interface OtlpHttpSinkOptions {
  /** The full traces URL, e.g. `http://localhost:4318/v1/traces`. */
  endpoint: string;
  /** "http/protobuf" (default) or "http/json". */
  protocol?: OtlpProtocol;
  /** "gzip" or "none" (default). */
  compression?: "gzip" | "none";
  /** Extra request headers (e.g. authentication). */
  headers?: Record<string, string>;
  /** Per-request timeout (ms); 10 000 by default. */
  timeoutMs?: number;
  /** Spans per request at most; 512 by default. */
  maxBatchSpans?: number;
  /** How long a partial batch waits for more spans (ms); 200 by default. */
  scheduleDelayMs?: number;
  /** Spans queued at most; 100 000 by default. */
  maxQueueSpans?: number;
  /** Requests in flight at once; 1 by default. */
  maxConcurrentExports?: number;
  /** Tries per batch, the first included; 5 by default. */
  maxAttempts?: number;
  /** Backoff before the first retry, before jitter (ms); 1 000 by default. */
  initialBackoffMs?: number;
  /** Longest wait between tries, `Retry-After` included (ms); 30 000 by default. */
  maxBackoffMs?: number;
  /** The instrumentation scope version (the agent's version). */
  scopeVersion?: string;
  counters?: Counters;
  logger?: Logger;
}

/** What one batch's delivery came to. */
interface Outcome {
  result: OtlpSendResult;
  attempts: number;
}

/** The drop reason for a failed send. */
export function dropReasonOf(result: OtlpSendResult): string {
  if (result.status) return `export_http_${result.status}`;
  if (result.error?.startsWith("timeout")) return "export_timeout";
  if (result.error === "aborted") return "export_shutdown";
  return "export_network_error";
}

/** A sink sending spans to an OTLP/HTTP endpoint. */
export function createOtlpHttpSink(options: OtlpHttpSinkOptions): SpanSink {
  const protocol = options.protocol ?? "http/protobuf";
  const gzip = options.compression === "gzip";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const backoff = { initialMs: options.initialBackoffMs ?? 1000, maxMs: options.maxBackoffMs ?? 30_000 };
  const scopeVersion = options.scopeVersion ?? "";
  const counters = options.counters ?? createCounters();
  const logger = options.logger ?? silentLogger;
  const userAgent = scopeVersion ? `spanprobe/${scopeVersion}` : "spanprobe";
  new URL(options.endpoint); // throws on a malformed endpoint, before any span is accepted

  // false from a retryable failure until the next success: push() then never waits
  let healthy = true;

  async function deliver(body: Uint8Array, ctx: ExportContext): Promise<Outcome> {
    for (let attempt = 1;; attempt++) {
      const deadline = ctx.deadline;
      const left = deadline === undefined ? timeoutMs : Math.min(timeoutMs, deadline - Date.now());
      const result = await sendOtlpRequest({
        url: options.endpoint,
        protocol,
        body,
        gzip,
        headers: options.headers,
        timeoutMs: Math.max(1, left),
        signal: ctx.signal,
        userAgent,
      });
      healthy = result.ok || !result.retryable;
      if (result.ok || !result.retryable || attempt >= maxAttempts) return { result, attempts: attempt };
      const wait = Math.min(result.retryAfterMs ?? backoffDelayMs(attempt, backoff), backoff.maxMs);
      const until = ctx.deadline;
      if (until !== undefined && Date.now() + wait >= until) return { result, attempts: attempt };
      counters.inc("export_batches_retried");
      logger.debug("OTLP export retry", { status: result.status, error: result.error, waitMs: wait, attempt });
      if (!await sleep(wait, ctx.signal)) return { result, attempts: attempt };
    }
  }

  async function exportBatch(batch: SpanData[], ctx: ExportContext): Promise<void> {
    let body: Uint8Array;
    try {
      body = protocol === "http/json"
        ? encodeOtlpTraceJsonBytes(batch, scopeVersion)
        : encodeOtlpTraceProto(batch, scopeVersion);
      if (gzip) body = await gzipBytes(body);
    } catch (e) {
      counters.inc("export_batches_failed");
      counters.drop("export_encode_error", batch.length);
      logger.error("OTLP encoding failed", { error: e, spans: batch.length });
      return;
    }
    const { result, attempts } = await deliver(body, ctx);
    if (result.ok) {
      const rejected = Math.min(batch.length, result.rejectedSpans ?? 0);
      counters.inc("export_batches_ok");
      counters.inc("spans_exported", batch.length - rejected);
      if (rejected) counters.drop("export_rejected", rejected);
      if (rejected || result.errorMessage) {
        logger.warnLimited("otlp_partial", "OTLP endpoint rejected spans", {
          rejected,
          message: result.errorMessage,
        });
      }
      return;
    }
    counters.inc("export_batches_failed");
    counters.drop(dropReasonOf(result), batch.length);
    logger.warnLimited("otlp_failed", "OTLP export failed; spans dropped", {
      endpoint: options.endpoint,
      status: result.status || undefined,
      error: result.error,
      message: result.errorMessage,
      spans: batch.length,
      attempts,
    });
  }

  const worker = createBatchWorker({
    maxBatchSpans: options.maxBatchSpans ?? 512,
    scheduleDelayMs: options.scheduleDelayMs ?? 200,
    maxQueueSpans: options.maxQueueSpans ?? 100_000,
    maxConcurrent: options.maxConcurrentExports ?? 1,
    exportBatch,
    drop: (reason, n) => counters.drop(reason, n),
    queueDepth: (n) => counters.gauge("export_queue_spans", n),
    onExportError: (e) => logger.error("OTLP export crashed", { error: e }),
    isHealthy: () => healthy,
  });

  return {
    push: (spans) => worker.push(spans),
    flush: (deadline) => worker.flush(deadline),
    shutdown: (deadline) => worker.shutdown(deadline),
  };
}
