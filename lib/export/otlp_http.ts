/**
 * The OTLP/HTTP sink: batches spans, encodes them (protobuf or JSON,
 * optionally gzip) and POSTs them through the reliability layer
 * ({@linkcode createReliableExporter}: bounded memory, retries of what the
 * OTLP spec calls retryable with backoff, jitter and `Retry-After`, optional
 * disk spool). Everything not delivered is counted as dropped with a reason:
 *
 * - `export_queue_full`: the memory bound (spans or bytes) was reached; newest refused
 * - `export_http_<status>`: the server refused the batch (not retryable)
 * - `export_network_error`, `export_timeout`, `export_http_<429|502|503|504>`:
 *   only when `maxAttempts` is set and used up (by default retries never give up)
 * - `export_rejected`: the server accepted the batch but rejected some spans (partial success)
 * - `export_shutdown`: still held when shutdown gave up (without a spool)
 * - `spool_full`, `spool_corrupt`: the spool cap was reached; a damaged spool file
 * - `export_encode_error`, `export_internal_error`: a bug; logged
 * @module
 */
import { type Counters, createCounters } from "../telemetry/counters.ts";
import { type Logger, silentLogger } from "../telemetry/log.ts";
import { redactUrl } from "../telemetry/redact.ts";
import { encodeOtlpTraceJsonBytes } from "./otlp_json.ts";
import { encodeOtlpTraceProto } from "./otlp_proto.ts";
import { gzipBytes, type OtlpProtocol, type OtlpSendResult, sendOtlpRequest } from "./otlp_send.ts";
import { createReliableExporter, EXPORT_DEFAULTS, type ReliableExporter } from "./reliable_exporter.ts";
import type { Spool } from "./spool.ts";

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
  /** Spans held in memory at most (queued, encoded, in flight); 500 000 by default. */
  maxQueueSpans?: number;
  /** Encoded bytes held in memory at most; 64 MiB by default. */
  maxQueueBytes?: number;
  /** Requests in flight at once; 1 by default. */
  maxConcurrentExports?: number;
  /** Tries per batch, the first included; unlimited by default (the memory bound decides). */
  maxAttempts?: number;
  /** Backoff before the first retry, before jitter (ms); 1 000 by default. */
  initialBackoffMs?: number;
  /** Longest backoff between tries (ms); 5 000 by default. A `Retry-After` is honored up to 5 minutes. */
  maxBackoffMs?: number;
  /** A disk spool for batches the endpoint does not take (see spool.ts). */
  spool?: Spool;
  /** The instrumentation scope version (the agent's version). */
  scopeVersion?: string;
  counters?: Counters;
  logger?: Logger;
}

/** The drop reason for a failed send. */
export function dropReasonOf(result: OtlpSendResult): string {
  if (result.status) return `export_http_${result.status}`;
  if (result.error?.startsWith("timeout")) return "export_timeout";
  if (result.error === "aborted") return "export_shutdown";
  return "export_network_error";
}

/** A sink sending spans to an OTLP/HTTP endpoint. */
export function createOtlpHttpSink(options: OtlpHttpSinkOptions): ReliableExporter {
  const protocol = options.protocol ?? "http/protobuf";
  const gzip = options.compression === "gzip";
  const timeoutMs = options.timeoutMs ?? 10_000;
  const scopeVersion = options.scopeVersion ?? "";
  const counters = options.counters ?? createCounters();
  const logger = options.logger ?? silentLogger;
  const userAgent = scopeVersion ? `spanprobe/${scopeVersion}` : "spanprobe";
  new URL(options.endpoint); // throws on a malformed endpoint, before any span is accepted

  return createReliableExporter({
    async encode(batch) {
      let body = protocol === "http/json"
        ? encodeOtlpTraceJsonBytes(batch, scopeVersion)
        : encodeOtlpTraceProto(batch, scopeVersion);
      if (gzip) body = await gzipBytes(body);
      return { body, spans: batch.length, protocol, gzip };
    },
    send(batch, signal, deadline) {
      const left = deadline === undefined ? timeoutMs : Math.min(timeoutMs, deadline - Date.now());
      return sendOtlpRequest({
        url: options.endpoint,
        // a spooled batch keeps the encoding it was written with
        protocol: batch.protocol,
        body: batch.body,
        gzip: batch.gzip,
        headers: options.headers,
        timeoutMs: Math.max(1, left),
        signal,
        userAgent,
      });
    },
    dropReason: dropReasonOf,
    maxBatchSpans: options.maxBatchSpans ?? EXPORT_DEFAULTS.maxBatchSpans,
    scheduleDelayMs: options.scheduleDelayMs,
    maxQueueSpans: options.maxQueueSpans,
    maxQueueBytes: options.maxQueueBytes,
    maxConcurrent: options.maxConcurrentExports,
    maxAttempts: options.maxAttempts,
    initialBackoffMs: options.initialBackoffMs,
    maxBackoffMs: options.maxBackoffMs,
    spool: options.spool,
    counters,
    logger,
    target: { endpoint: redactUrl(options.endpoint) }, // for logs only
  });
}
