/**
 * Where the span metrics go (docs/metrics.md): `--metrics
 * off|otlp|prometheus|both` (default: both when an OTLP output is configured,
 * prometheus otherwise), and the OTLP metrics settings from flags and the
 * standard environment:
 *
 * - URL: `--endpoint BASE` → `BASE/v1/metrics`; else
 *   `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` as is; else
 *   `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/metrics`; else
 *   `http://localhost:4318/v1/metrics`;
 * - protocol, headers, compression, timeout: as for traces, with
 *   `OTEL_EXPORTER_OTLP_METRICS_*` in place of `OTEL_EXPORTER_OTLP_TRACES_*`;
 * - `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60000);
 * - `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `cumulative`
 *   (default), `delta`, or `lowmemory` (delta for spanprobe's counters and
 *   histograms, as the spec defines it).
 *
 * Unusable values are usage errors (exit 2) naming the flag or variable.
 * @module
 */
import { type EnvGetter, type OtlpExporterConfig, resolveOtlpConfig } from "../export/otlp_env.ts";
import { UserError } from "../core/errors.ts";
import type { Temporality } from "./metric_data.ts";
import { METRICS_EXPORT_DEFAULTS } from "./otlp_metrics_exporter.ts";

/** The `--metrics` choices. */
export const METRICS_MODES = ["off", "otlp", "prometheus", "both"] as const;

/** One of {@linkcode METRICS_MODES}. */
export type MetricsMode = typeof METRICS_MODES[number];

/** Resolved OTLP metrics settings. */
export interface OtlpMetricsConfig extends OtlpExporterConfig {
  temporality: Temporality;
  intervalMs: number;
}

/** What to do with the span metrics. */
export interface MetricsPlan {
  mode: MetricsMode;
  /** Set when metrics go over OTLP. */
  otlp?: OtlpMetricsConfig;
  /** Whether the Prometheus endpoint shows them (it must also be enabled, `--metrics-port`). */
  prometheus: boolean;
  warnings: string[];
}

/** Inputs of {@linkcode resolveMetrics}. */
export interface MetricsInput {
  /** `--metrics` text. */
  mode?: string;
  /** Whether spans go to an OTLP collector (sets the default mode). */
  collector: boolean;
  /** Whether the Prometheus endpoint is on (`--metrics-port`). */
  prometheusPort: boolean;
  /** `--endpoint` (a base URL), `--protocol`, `--compression`, `--header`s. */
  endpoint?: string;
  protocol?: string;
  compression?: string;
  headers?: Record<string, string>;
  env: EnvGetter;
}

const E = "OTEL_EXPORTER_OTLP_";
const T = "OTEL_EXPORTER_OTLP_TRACES_";
const M = "OTEL_EXPORTER_OTLP_METRICS_";

/** `base` with the metrics path appended. */
export function metricsUrlFromBase(base: string): string {
  return base.endsWith("/") ? `${base}v1/metrics` : `${base}/v1/metrics`;
}

function checkUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${source}: not a URL: ${JSON.stringify(url)}`, 2);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UserError(`${source}: only http and https endpoints are supported, got ${JSON.stringify(url)}`, 2);
  }
  return url;
}

function temporalityFrom(env: EnvGetter): Temporality {
  const name = `${M}TEMPORALITY_PREFERENCE`;
  const v = env(name)?.trim().toLowerCase();
  if (!v || v === "cumulative") return "cumulative";
  if (v === "delta" || v === "lowmemory") return "delta";
  throw new UserError(`${name}: expected cumulative, delta or lowmemory, got ${JSON.stringify(env(name))}`, 2);
}

function intervalFrom(env: EnvGetter): number {
  const name = "OTEL_METRIC_EXPORT_INTERVAL";
  const v = env(name)?.trim();
  if (!v) return METRICS_EXPORT_DEFAULTS.intervalMs;
  if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
    throw new UserError(`${name}: expected a positive number of milliseconds, got ${JSON.stringify(v)}`, 2);
  }
  return Number(v);
}

function url(input: MetricsInput): string {
  if (input.endpoint) return checkUrl(metricsUrlFromBase(input.endpoint), "--endpoint");
  const own = input.env(`${M}ENDPOINT`)?.trim();
  if (own) return checkUrl(own, `${M}ENDPOINT`);
  const base = input.env(`${E}ENDPOINT`)?.trim();
  if (base) return checkUrl(metricsUrlFromBase(base), `${E}ENDPOINT`);
  return "http://localhost:4318/v1/metrics";
}

/** Resolves the metrics plan; throws {@linkcode UserError} (exit 2) on an unusable value. */
export function resolveMetrics(input: MetricsInput): MetricsPlan {
  let mode: MetricsMode;
  if (input.mode === undefined) mode = input.collector ? "both" : "prometheus";
  else if ((METRICS_MODES as readonly string[]).includes(input.mode)) mode = input.mode as MetricsMode;
  else throw new UserError(`--metrics ${input.mode}: expected one of ${METRICS_MODES.join(", ")}`, 2);
  if (input.mode === "prometheus" && !input.prometheusPort) {
    throw new UserError("--metrics prometheus: the Prometheus endpoint is off; give --metrics-port PORT too", 2);
  }
  const prometheus = (mode === "prometheus" || mode === "both") && input.prometheusPort;
  if (mode !== "otlp" && mode !== "both") return { mode, prometheus, warnings: [] };
  // the traces resolver, reading OTEL_EXPORTER_OTLP_METRICS_* where it reads ..._TRACES_*
  const env: EnvGetter = (name) => input.env(name.startsWith(T) ? M + name.slice(T.length) : name);
  const endpoint = url(input);
  try {
    const { config, warnings } = resolveOtlpConfig(env, {
      tracesEndpoint: endpoint,
      protocol: input.protocol,
      compression: input.compression,
      headers: input.headers,
    });
    return {
      mode,
      prometheus,
      otlp: { ...config, temporality: temporalityFrom(input.env), intervalMs: intervalFrom(input.env) },
      warnings: warnings.map((w) => w.replaceAll(T, M)),
    };
  } catch (e) {
    if (e instanceof UserError) throw new UserError(e.message.replaceAll(T, M), e.exitCode);
    throw e;
  }
}
