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
 * An unusable flag is a usage error (exit 2) naming it; an unusable
 * environment variable is ignored with a warning naming it (the next source,
 * or the default, applies), as for traces and as the OpenTelemetry SDK
 * environment spec says.
 * @module
 */
import { checkEndpointUrl, type EnvGetter, type OtlpExporterConfig, resolveOtlpConfig } from "../export/otlp_env.ts";
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

/** `parse(value)`; a bad environment value: undefined, with `parse`'s error (naming the variable) as a warning. */
function fromEnv<T>(value: string | undefined, parse: (v: string) => T, warnings: string[]): T | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  try {
    return parse(v);
  } catch (e) {
    warnings.push(`${(e as Error).message}; ignored`);
    return undefined;
  }
}

function parseTemporality(v: string): Temporality {
  const name = `${M}TEMPORALITY_PREFERENCE`;
  const lower = v.toLowerCase();
  if (lower === "cumulative") return "cumulative";
  if (lower === "delta" || lower === "lowmemory") return "delta";
  throw new UserError(`${name}: expected cumulative, delta or lowmemory, got ${JSON.stringify(v)}`, 2);
}

function parseInterval(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) <= 0 || !Number.isSafeInteger(Number(v))) {
    throw new UserError(
      `OTEL_METRIC_EXPORT_INTERVAL: expected a positive number of milliseconds, got ${JSON.stringify(v)}`,
      2,
    );
  }
  return Number(v);
}

function url(input: MetricsInput, warnings: string[]): string {
  if (input.endpoint) return checkEndpointUrl(metricsUrlFromBase(input.endpoint), "--endpoint");
  return fromEnv(input.env(`${M}ENDPOINT`), (v) => checkEndpointUrl(v, `${M}ENDPOINT`), warnings) ??
    fromEnv(input.env(`${E}ENDPOINT`), (v) => checkEndpointUrl(metricsUrlFromBase(v), `${E}ENDPOINT`), warnings) ??
    "http://localhost:4318/v1/metrics";
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
  const warnings: string[] = [];
  const endpoint = url(input, warnings);
  const { config, warnings: otlpWarnings } = resolveOtlpConfig(env, {
    tracesEndpoint: endpoint,
    protocol: input.protocol,
    compression: input.compression,
    headers: input.headers,
  });
  const temporality = fromEnv(input.env(`${M}TEMPORALITY_PREFERENCE`), parseTemporality, warnings);
  const intervalMs = fromEnv(input.env("OTEL_METRIC_EXPORT_INTERVAL"), parseInterval, warnings);
  return {
    mode,
    prometheus,
    otlp: {
      ...config,
      temporality: temporality ?? "cumulative",
      intervalMs: intervalMs ?? METRICS_EXPORT_DEFAULTS.intervalMs,
    },
    warnings: [...warnings, ...otlpWarnings.map((w) => w.replaceAll(T, M))],
  };
}
