/**
 * The span metrics as one output of the agent (docs/metrics.md): a store
 * that counts every span once, its Prometheus text for the loopback metrics
 * endpoint, and its OTLP exporter, built from a {@linkcode MetricsPlan}.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import type { MetricsPlan } from "./metrics_config.ts";
import { createOtlpMetricsExporter, type OtlpMetricsExporter } from "./otlp_metrics_exporter.ts";
import { metricsPrometheusText } from "./prometheus_text.ts";
import { createSpanMetrics, type SpanMetrics } from "./span_metrics.ts";

/** The running span metrics. */
export interface SpanMetricsOutput {
  /** Count spans (each exactly once); `extra`: span attributes that become metric attributes. */
  record(spans: readonly SpanData[], extra?: readonly string[]): void;
  /** The Prometheus text of the cumulative metrics (undefined when Prometheus is not chosen). */
  readonly prometheusText?: () => string;
  /** The store (tests, stats). */
  readonly store: SpanMetrics;
  /** Send what is left over OTLP until `deadline` (epoch ms). */
  shutdown(deadline?: number): Promise<void>;
  /** How the OTLP metrics output is failing (its last send failed), or undefined. */
  failure(): string | undefined;
}

/** Builds the span metrics output for `plan`, or undefined when nothing would read them. */
export function createSpanMetricsOutput(
  plan: MetricsPlan,
  o: { counters: Counters; logger: Logger; scopeVersion?: string },
): SpanMetricsOutput | undefined {
  if (!plan.prometheus && !plan.otlp) return undefined;
  for (const w of plan.warnings) o.logger.warn(w);
  const store = createSpanMetrics({ onOverflow: () => o.counters.inc("metric_points_overflowed") });
  let exporter: OtlpMetricsExporter | undefined;
  if (plan.otlp) {
    const c = plan.otlp;
    o.logger.info("exporting span metrics over OTLP", {
      endpoint: c.endpoint,
      protocol: c.protocol,
      temporality: c.temporality,
      intervalMs: c.intervalMs,
    });
    exporter = createOtlpMetricsExporter({
      metrics: store,
      url: c.endpoint,
      protocol: c.protocol,
      headers: c.headers,
      compression: c.compression,
      timeoutMs: c.timeoutMs,
      temporality: c.temporality,
      intervalMs: c.intervalMs,
      scopeVersion: o.scopeVersion,
      counters: o.counters,
      logger: o.logger,
    });
  }
  return {
    record(spans, extra) {
      for (let i = 0; i < spans.length; i++) store.record(spans[i], extra);
    },
    prometheusText: plan.prometheus ? () => metricsPrometheusText(store.collect("cumulative")) : undefined,
    store,
    async shutdown(deadline) {
      await exporter?.shutdown(deadline);
    },
    failure: () => exporter?.failure(),
  };
}
