/**
 * Periodic OTLP/HTTP export of the span metrics to `/v1/metrics`
 * (docs/metrics.md). Every `intervalMs` (60 s by default, like
 * `OTEL_METRIC_EXPORT_INTERVAL`) the store is collected, encoded and queued;
 * one request is in flight at a time. Retries follow the trace exporter's
 * rules: only what the OTLP spec calls retryable (429, 502, 503, 504, no
 * answer), with exponential backoff and jitter, or exactly after
 * `Retry-After` (capped). The queue is bounded: with cumulative temporality
 * a newer collection supersedes an unsent older one (it contains it, so
 * nothing is lost); with delta temporality at most `maxQueued` requests are
 * held and the oldest is dropped (counted as `metrics_exports_failed`,
 * logged). Shutdown collects once more (every span recorded so far), then
 * sends until the deadline.
 *
 * It shares the export core's request (`sendOtlpRequest`: timeout, bounded
 * response read, retryable statuses, `Retry-After`) and retry timing
 * (`EXPORT_DEFAULTS`, `backoffDelayMs`), not its span sender
 * (`export/sender.ts`): that one accounts for spans (`spans_exported`, span
 * drop reasons), which metrics requests must not touch.
 * @module
 */
import { backoffDelayMs, sleep } from "../core/backoff.ts";
import { gzipBytes, type OtlpProtocol, type OtlpSendResult, sendOtlpRequest } from "../export/otlp_send.ts";
import { EXPORT_DEFAULTS } from "../export/reliable_exporter.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import type { Temporality } from "./metric_data.ts";
import { metricsEncoder } from "./otlp_metrics_json.ts";
import type { SpanMetrics } from "./span_metrics.ts";

/** Defaults (documented in docs/metrics.md). */
export const METRICS_EXPORT_DEFAULTS = {
  intervalMs: 60_000,
  maxQueued: 16,
} as const;

/** Options of {@linkcode createOtlpMetricsExporter}. */
export interface OtlpMetricsExporterOptions {
  metrics: SpanMetrics;
  /** The full metrics URL (`.../v1/metrics`). */
  url: string;
  protocol: OtlpProtocol;
  headers?: Record<string, string>;
  compression?: "gzip" | "none";
  timeoutMs?: number;
  temporality: Temporality;
  intervalMs?: number;
  /** Requests held at most with delta temporality (default 16). */
  maxQueued?: number;
  scopeVersion?: string;
  counters: Counters;
  logger: Logger;
  /** Random in [0, 1) for jitter. */
  random?: () => number;
  /** Sends one request (tests may wrap it); {@linkcode sendOtlpRequest} by default. */
  send?: typeof sendOtlpRequest;
}

/** A running metrics exporter. */
export interface OtlpMetricsExporter {
  /** Collect and send now (also what each interval does); resolves once queued. */
  collectNow(): Promise<void>;
  /** Stop the interval, collect a last time and send until `deadline` (epoch ms). Idempotent. */
  shutdown(deadline?: number): Promise<void>;
  /** How the last send failed ("refused: http 400", "unreachable: ..."), or undefined when it succeeded. */
  failure(): string | undefined;
}

/** Starts exporting every `intervalMs`. */
export function createOtlpMetricsExporter(o: OtlpMetricsExporterOptions): OtlpMetricsExporter {
  const { counters, logger } = o;
  const encode = metricsEncoder(o.protocol);
  const send = o.send ?? sendOtlpRequest;
  const gzip = o.compression === "gzip";
  const maxQueued = Math.max(1, o.maxQueued ?? METRICS_EXPORT_DEFAULTS.maxQueued);
  const backoff = {
    initialMs: EXPORT_DEFAULTS.initialBackoffMs,
    maxMs: EXPORT_DEFAULTS.maxBackoffMs,
    random: o.random,
  };
  const userAgent = o.scopeVersion ? `spanprobe/${o.scopeVersion}` : "spanprobe";
  const queue: Uint8Array[] = [];
  const abort = new AbortController();
  /** Ends a retry wait early (a new collection, or shutdown). */
  let wake = new AbortController();
  let running: Promise<void> | undefined;
  let failures = 0;
  let healthy = true;
  let lastFailure: string | undefined;
  let closed: Promise<void> | undefined;

  async function collectNow(): Promise<void> {
    const batch = o.metrics.collect(o.temporality);
    if (batch.length === 0) return;
    let body = encode(batch, o.scopeVersion);
    if (gzip) body = await gzipBytes(body);
    if (o.temporality === "cumulative") queue.length = 0; // superseded: the new one contains it
    else if (queue.length >= maxQueued) {
      queue.shift();
      counters.inc("metrics_exports_failed");
      logger.warnLimited("metrics_queue_full", "metrics export queue full; oldest delta request dropped", {
        url: o.url,
        maxQueued,
      });
    }
    queue.push(body);
    wake.abort();
    running ??= drain().finally(() => running = undefined);
  }

  async function handle(body: Uint8Array, result: OtlpSendResult): Promise<void> {
    if (result.ok) {
      if (queue[0] === body) queue.shift();
      counters.inc("metrics_exports_ok");
      if (!healthy) logger.info("metrics endpoint answers again", { url: o.url });
      healthy = true;
      lastFailure = undefined;
      failures = 0;
      if (result.rejectedSpans) {
        logger.warnLimited("metrics_rejected", "metrics endpoint rejected data points", {
          url: o.url,
          rejected: result.rejectedSpans,
          message: result.errorMessage,
        });
      }
      return;
    }
    lastFailure = `${result.retryable ? "unreachable" : "refused"}: ${result.error ?? `http ${result.status}`}`;
    if (!result.retryable || abort.signal.aborted) {
      if (queue[0] === body) queue.shift();
      counters.inc("metrics_exports_failed");
      logger.warnLimited("metrics_failed", "OTLP metrics export failed; request dropped", {
        url: o.url,
        status: result.status || undefined,
        error: result.error,
        message: result.errorMessage,
      });
      return;
    }
    failures++;
    const wait = result.retryAfterMs !== undefined
      ? Math.min(result.retryAfterMs, EXPORT_DEFAULTS.maxRetryAfterMs)
      : backoffDelayMs(failures, backoff);
    if (healthy) {
      logger.warn("metrics endpoint not answering; retrying", { url: o.url, error: result.error, waitMs: wait });
    }
    healthy = false;
    wake = new AbortController();
    await sleep(wait, AbortSignal.any([wake.signal, abort.signal]));
  }

  async function drain(): Promise<void> {
    while (queue.length > 0 && !abort.signal.aborted) {
      const body = queue[0];
      const result = await send({
        url: o.url,
        protocol: o.protocol,
        body,
        gzip,
        headers: o.headers,
        timeoutMs: o.timeoutMs,
        signal: abort.signal,
        userAgent,
      });
      await handle(body, result);
    }
  }

  const timer = setInterval(() => {
    collectNow().catch((e) => logger.error("metrics collection failed", { error: (e as Error).message }));
  }, o.intervalMs ?? METRICS_EXPORT_DEFAULTS.intervalMs);
  Deno.unrefTimer(timer); // the agent's lifecycle decides when to stop, not this timer

  return {
    collectNow,
    failure: () => lastFailure,
    shutdown(deadline) {
      return closed ??= (async () => {
        clearInterval(timer);
        await collectNow();
        const left = deadline === undefined ? undefined : deadline - Date.now();
        const limit = left === undefined ? undefined : setTimeout(() => abort.abort(), Math.max(0, left));
        await running;
        if (limit !== undefined) clearTimeout(limit);
        abort.abort();
        if (queue.length) {
          counters.inc("metrics_exports_failed", queue.length);
          logger.warn("metrics not delivered by the flush deadline", { url: o.url, requests: queue.length });
          queue.length = 0;
        }
      })();
    },
  };
}
