/**
 * Choosing where spans go: console (the default when no endpoint is
 * configured anywhere), OTLP/HTTP, and OTLP/JSON files.
 * @module
 */
import type { OutputChoice } from "../config/agent_config.ts";
import { createConsoleSink } from "../export/console_sink.ts";
import { createFileSink } from "../export/file_sink.ts";
import { createOtlpHttpSink } from "../export/otlp_http.ts";
import { type EnvGetter, type OtlpExporterConfig, resolveOtlpConfig } from "../export/otlp_env.ts";
import { fanoutSink, type SpanSink } from "../export/sink.ts";
import type { Spool } from "../export/spool.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { UserError } from "../core/errors.ts";
import { redactUrl } from "../telemetry/redact.ts";
import { VERSION } from "../core/version.ts";

/** Inputs of {@linkcode resolveExport}. */
export interface ExportInput {
  outputs?: OutputChoice[];
  endpoint?: string;
  protocol?: string;
  compression?: string;
  headers?: Record<string, string>;
  env: EnvGetter;
}

/** The resolved outputs. */
export interface ExportPlan {
  outputs: OutputChoice[];
  otlp?: OtlpExporterConfig;
  warnings: string[];
}

/**
 * Resolves outputs: explicit `--output`s win; otherwise OTLP when an endpoint
 * is set by flag, config or `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`, else the
 * console (spans visible without any collector).
 */
export function resolveExport(input: ExportInput): ExportPlan {
  const endpointKnown = input.endpoint !== undefined || input.env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") !== undefined ||
    input.env("OTEL_EXPORTER_OTLP_ENDPOINT") !== undefined;
  const outputs = input.outputs?.length
    ? input.outputs
    : [endpointKnown ? { kind: "otlp" as const } : { kind: "console" as const }];
  // validated even when not used, so a typo is not silently ignored
  const { config, warnings } = resolveOtlpConfig(input.env, {
    endpoint: input.endpoint,
    protocol: input.protocol,
    compression: input.compression,
    headers: input.headers,
  });
  if (!outputs.some((o) => o.kind === "otlp")) return { outputs, warnings: [] };
  return { outputs, otlp: config, warnings };
}

/** Reliability settings of the OTLP output. */
export interface ExportReliability {
  maxQueueSpans?: number;
  maxQueueBytes?: number;
  spool?: Spool;
}

/** Builds the sink for a plan. */
export function buildSink(
  plan: ExportPlan,
  o: { logger: Logger; counters: Counters; reliability?: ExportReliability },
): SpanSink {
  for (const w of plan.warnings) o.logger.warn(w);
  const sinks = plan.outputs.map((out): SpanSink => {
    switch (out.kind) {
      case "console":
        return createConsoleSink({ counters: o.counters, logger: o.logger });
      case "file":
        return createFileSink({ path: out.path, scopeVersion: VERSION, counters: o.counters, logger: o.logger });
      case "otlp":
        o.logger.info("exporting over OTLP", {
          endpoint: redactUrl(plan.otlp!.endpoint),
          protocol: plan.otlp!.protocol,
        });
        return createOtlpHttpSink({
          ...plan.otlp!,
          ...o.reliability,
          scopeVersion: VERSION,
          counters: o.counters,
          logger: o.logger,
        });
    }
  });
  return fanoutSink(sinks);
}

/**
 * Checks at start-up, before anything is attached, that every file output
 * can be written: opens it for append (creating it when missing) and closes
 * it. Throws a {@linkcode UserError} (exit 2) naming the output otherwise.
 */
export async function checkFileOutputs(outputs: OutputChoice[]): Promise<void> {
  for (const out of outputs) {
    if (out.kind !== "file") continue;
    try {
      (await Deno.open(out.path, { write: true, append: true, create: true })).close();
    } catch (e) {
      const why = e instanceof Deno.errors.IsADirectory || (e as { code?: string }).code === "EISDIR"
        ? "is a directory; name a file (e.g. file:DIR/spans.json)"
        : e instanceof Deno.errors.NotFound
        ? "its folder does not exist"
        : e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied
        ? `not writable: ${(e as Error).message}`
        : (e as Error).message;
      throw new UserError(`--output file:${out.path}: ${why}`, 2);
    }
  }
}
