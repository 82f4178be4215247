/**
 * Wiring of the Go execution trace source: the one-shot `spanprobe gotrace
 * FILE…` command and the `--gotrace-dir` source of `spanprobe run`.
 * @module
 */
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { join } from "node:path";
import { parseResourceAttributes } from "../export/otlp_env.ts";
import { parseOutput } from "../config/agent_config.ts";
import { openGoTraceDir } from "../sources/gotrace/dir_source.ts";
import { GoTraceError } from "../sources/gotrace/parse_error.ts";
import {
  convertTraceFile,
  parseAnchor,
  reportConverted,
  type TraceFileOptions,
} from "../sources/gotrace/trace_file.ts";
import type { ProbeRun } from "../core/probe_run.ts";
import { UserError } from "../core/errors.ts";
import { createResourceCache } from "../spans/resources.ts";
import type { Attributes } from "../core/span_data.ts";
import { type Counters, createCounters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { EXIT_EXPORT_FAILED, exportDrops } from "../export/export_health.ts";
import { buildSink, resolveExport } from "./outputs.ts";

/** The service name of Go trace spans when neither flag, config nor environment names one. */
export const DEFAULT_GOTRACE_SERVICE = "go-trace";

/** Resource attributes of Go trace spans: service name, OTEL_RESOURCE_ATTRIBUTES, host. */
export function gotraceResource(serviceName: string | undefined, resourceAttributes: string | undefined): Attributes {
  let extra: Record<string, string> = {};
  try {
    extra = parseResourceAttributes(resourceAttributes ?? "");
  } catch { /* reported by the exporter's own parse */ }
  const cache = createResourceCache({ serviceName, extra: { [ATTR_SERVICE_NAME]: DEFAULT_GOTRACE_SERVICE, ...extra } });
  return { ...cache.forPid(undefined).attributes };
}

/** Parses `--gotrace-frames`. */
export function parseFrames(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,3}$/.test(text) || Number(text) > 128) {
    throw new UserError(`${flag} ${text}: expected a number of stack frames from 0 to 128`, 2);
  }
  return Number(text);
}

/** Options of {@linkcode startGoTraceDir}. */
export interface GoTraceDirWiring {
  dir: string;
  /** Folder of the state file (`--state-dir`, else `--spool-dir`). */
  stateDir: string | undefined;
  serviceName?: string;
  resourceAttributes?: string;
  frames?: number;
  goroutineEvents?: boolean;
  logger: Logger;
  counters: Counters;
}

/** Starts the `--gotrace-dir` source. */
export async function startGoTraceDir(o: GoTraceDirWiring): Promise<ProbeRun> {
  if (o.stateDir === undefined) {
    throw new UserError(
      `--gotrace-dir ${o.dir}: also give --state-dir DIR (or --spool-dir DIR): a writable folder where the converted files are remembered across restarts`,
      2,
    );
  }
  try {
    return await openGoTraceDir({
      dir: o.dir,
      statePath: join(o.stateDir, "gotrace-files.json"),
      resourceAttributes: gotraceResource(o.serviceName, o.resourceAttributes),
      frames: o.frames,
      goroutineStates: o.goroutineEvents,
      logger: o.logger,
      counters: o.counters,
    });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError((e as Error).message, 1);
  }
}

function envGetter(): (name: string) => string | undefined {
  return (name) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  };
}

/** The parsed options of `spanprobe gotrace` (see `GOTRACE_OPTIONS` in lib/cli/options.ts). */
export interface GotraceValues {
  output?: string[];
  endpoint?: string;
  protocol?: string;
  compression?: string;
  header?: string[];
  "service-name"?: string;
  anchor?: string;
  "gotrace-frames"?: string;
  "gotrace-goroutine-events"?: boolean;
  "flush-timeout"?: string;
  "log-format"?: string;
  "log-level"?: string;
}

/**
 * `spanprobe gotrace FILE…`: converts each file and exports its spans; exit
 * 0 when every file was converted and its spans delivered, 1 when a file
 * could not be parsed, 2 for usage errors, 3 when spans were lost to an
 * output still failing at exit (the agent's rule, docs/reliability.md).
 */
export async function convertTraceFiles(
  values: GotraceValues,
  positionals: string[],
  o: {
    /** The agent's logger (secrets redacted). */
    logger: Logger;
    /** The endpoint (flag, else the launcher's `SPANPROBE_ENDPOINT`). */
    endpoint?: string;
    /** Export headers (the launcher's, then `--header`). */
    headers: Record<string, string>;
    /** Called with the resolved export settings (to learn their secrets for redaction). */
    onExport?: (headers: Record<string, string> | undefined, endpoint: string | undefined) => void;
  },
): Promise<number> {
  if (positionals.length === 0) throw new UserError("gotrace: no trace file given (see 'spanprobe gotrace --help')", 2);
  const logger = o.logger;
  const counters = createCounters();
  const env = envGetter();
  let anchorNs: bigint | undefined;
  if (values.anchor !== undefined) {
    try {
      anchorNs = parseAnchor(values.anchor);
    } catch (e) {
      throw new UserError((e as Error).message, 2);
    }
  }
  const fileOptions: TraceFileOptions = {
    resourceAttributes: gotraceResource(
      values["service-name"] ?? env("OTEL_SERVICE_NAME"),
      env("OTEL_RESOURCE_ATTRIBUTES"),
    ),
    anchorNs,
    frames: parseFrames(values["gotrace-frames"], "--gotrace-frames"),
    goroutineStates: values["gotrace-goroutine-events"] ?? false,
  };
  const plan = resolveExport({
    outputs: values.output?.map(parseOutput),
    endpoint: o.endpoint,
    protocol: values.protocol,
    compression: values.compression,
    headers: o.headers,
    env,
  });
  o.onExport?.(plan.otlp?.headers, plan.otlp?.endpoint);
  const sink = buildSink(plan, { logger, counters });
  let failed = 0;
  let pending: Promise<void> = Promise.resolve();
  for (const path of positionals) {
    try {
      const summary = await convertTraceFile(path, fileOptions, (spans) => {
        counters.inc("spans_ended", spans.length);
        pending = pending.then(() => sink.push(spans));
      });
      await pending;
      reportConverted(path, summary, counters, logger);
    } catch (e) {
      await pending;
      failed++;
      counters.inc("gotrace_files_failed");
      const message = e instanceof GoTraceError
        ? e.message
        : e instanceof Deno.errors.NotFound
        ? `${path}: no such file`
        : `${path}: ${(e as Error).message}`;
      logger.error("cannot convert", { error: message });
    }
  }
  const flushMs = values["flush-timeout"] !== undefined ? Number(values["flush-timeout"]) : 5000;
  if (!(flushMs >= 0)) throw new UserError(`--flush-timeout ${values["flush-timeout"]}: expected milliseconds`, 2);
  await sink.shutdown(Date.now() + flushMs);
  const snapshot = counters.snapshot();
  const dropped = counters.dropped();
  logger.info("summary", { files: positionals.length, failed, spans: counters.get("spans_ended"), dropped });
  // the agent's exit rule (docs/reliability.md): spans lost to an output still failing at exit: 3
  const failure = sink.failure?.();
  const lost = exportDrops(snapshot);
  if (failure !== undefined && lost > 0) {
    logger.error("spans were lost because the output is failing", {
      output: failure,
      spansDropped: lost,
      exitCode: EXIT_EXPORT_FAILED,
    });
    return EXIT_EXPORT_FAILED;
  }
  return failed > 0 ? 1 : 0;
}
