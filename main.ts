/**
 * spanprobe's command line: `run`, `check`, `probes`, `gotrace`.
 * @module
 */
import { parseArgs } from "node:util";
import { runAgent } from "./lib/agent/run_agent.ts";
import { catchStopSignals, type StopSignals } from "./lib/agent/stop_signals.ts";
import { WATCH_STDIN_ENV, watchParentPipe } from "./lib/agent/parent_watch.ts";
import { CHECK_HELP, GOTRACE_HELP, MAIN_HELP, PROBES_HELP, RUN_HELP } from "./lib/cli/help.ts";
import { buildSink, checkFileOutputs, resolveExport } from "./lib/agent/outputs.ts";
import { type PlannedProbe, planProbes, startProbes } from "./lib/agent/probes.ts";
import {
  loadAgentConfig,
  parseCount,
  parseOutput,
  parsePairs,
  parsePort,
  parseSize,
} from "./lib/config/agent_config.ts";
import { openSpool, type Spool } from "./lib/export/spool.ts";
import { resolveMetrics } from "./lib/metrics/metrics_config.ts";
import { createSpanMetricsOutput } from "./lib/metrics/span_metrics_output.ts";
import { listBundledProbes } from "./lib/config/probe_catalog.ts";
import { loadProbeSpec } from "./lib/config/probe_spec.ts";
import { UserError } from "./lib/core/errors.ts";
import { createCounters } from "./lib/telemetry/counters.ts";
import { createLogger, type LogFormat, type LogLevel } from "./lib/telemetry/log.ts";
import { VERSION } from "./lib/core/version.ts";
import { createRedactor } from "./lib/telemetry/redact.ts";
import { parseKeyValueList } from "./lib/export/otlp_env.ts";
import { CHECK_OPTIONS, GOTRACE_OPTIONS, RUN_OPTIONS } from "./lib/cli/options.ts";
import { resolveCacheDir } from "./lib/sources/ringbuf/cache_dir.ts";
import { convertTraceFiles, parseFrames, startGoTraceDir } from "./lib/agent/gotrace.ts";
import { checkProbe } from "./lib/agent/check.ts";

/** Known secrets (header values, endpoint credentials): replaced in every log line and error message. */
const redactor = createRedactor();

/** Learns the secrets of the export settings: every header value (and its long words), the endpoint's credentials. */
function learnSecrets(headers: Record<string, string> | undefined, endpoint: string | undefined): void {
  for (const value of Object.values(headers ?? {})) {
    redactor.add(value);
    for (const word of value.split(/\s+/)) if (word.length >= 8) redactor.add(word);
  }
  redactor.addUrl(endpoint);
}

/**
 * `--header` values handed over by scripts/launch.ts through the environment
 * (`SPANPROBE_HEADERS`, a percent-encoded `k=v,k2=v2` list) so that they are
 * not on the agent's command line.
 */
function launcherHeaders(env: (name: string) => string | undefined): Record<string, string> {
  const raw = env("SPANPROBE_HEADERS");
  if (!raw) return {};
  try {
    return parseKeyValueList(raw);
  } catch (e) {
    throw new UserError(`SPANPROBE_HEADERS: ${(e as Error).message}`, 2);
  }
}

function out(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text.endsWith("\n") ? text : text + "\n"));
}

function positiveNumber(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n >= 0) || !Number.isFinite(n)) throw new UserError(`${flag} ${text}: expected a non-negative number`, 2);
  return n;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UserError(`${flag} ${value}: expected one of ${allowed.join(", ")}`, 2);
  }
  return value as T;
}

function envGetter(): (name: string) => string | undefined {
  return (name) => {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined; // not permitted: treat as unset
    }
  };
}

/** `spanprobe run`: SIGINT/SIGTERM are caught from here on, so a signal at any phase ends in an orderly stop. */
async function runCommand(args: string[]): Promise<number> {
  const signals = catchStopSignals();
  try {
    return await runWithSignals(args, signals);
  } finally {
    signals.dispose();
  }
}

async function runWithSignals(args: string[], signals: StopSignals): Promise<number> {
  const { values } = parseArgs({ args, options: RUN_OPTIONS, strict: true, allowPositionals: false });
  if (values.help) {
    out(RUN_HELP);
    return 0;
  }
  const file = values.config ? loadAgentConfig(values.config) : {};
  const logger = createLogger({
    format: oneOf<LogFormat>(values["log-format"] ?? file.logFormat, ["human", "json"], "--log-format"),
    level: oneOf<LogLevel>(values["log-level"] ?? file.logLevel, ["debug", "info", "warn", "error"], "--log-level"),
    redact: redactor.redact,
  });
  const counters = createCounters();
  const env = envGetter();
  const endpoint = values.endpoint ?? env("SPANPROBE_ENDPOINT") ?? file.endpoint;
  const headers = { ...file.headers, ...launcherHeaders(env), ...parsePairs(values.header ?? [], "--header") };
  learnSecrets(headers, endpoint);
  for (const name of ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) redactor.addUrl(env(name));
  if (values.header?.length) {
    logger.warn(
      "--header values on the command line are visible in the process list; " +
        "put secrets in OTEL_EXPORTER_OTLP_HEADERS or the config file's headers: (see README)",
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(values.endpoint ?? "")) {
    logger.warn(
      "credentials in --endpoint are visible in the process list; " +
        "put the endpoint in OTEL_EXPORTER_OTLP_ENDPOINT or the config file's exporter.endpoint (see README)",
    );
  }
  const exportConfig = resolveExport({
    outputs: values.output?.map(parseOutput) ?? file.outputs,
    endpoint,
    protocol: values.protocol ?? file.protocol,
    compression: values.compression ?? file.compression,
    headers,
    env,
  });
  learnSecrets(exportConfig.otlp?.headers, exportConfig.otlp?.endpoint);
  await checkFileOutputs(exportConfig.outputs);
  const gotraceDir = values["gotrace-dir"] ?? file.gotraceDir;
  const gotraceFrames = parseFrames(values["gotrace-frames"], "--gotrace-frames");
  const wantsProbes = (values.probe ?? []).length > 0 || (file.probes ?? []).length > 0 || gotraceDir === undefined ||
    (values["open-port"] ?? []).length > 0 || (values.exe ?? []).length > 0; // so a selector without --probe http is an error
  const probes: PlannedProbe[] = wantsProbes
    ? await planProbes({
      cliProbes: values.probe ?? [],
      cliParams: parsePairs(values.param ?? [], "--param"),
      binary: values.binary,
      pid: values.pid,
      fileProbes: file.probes,
      openPorts: values["open-port"],
      openPortEnv: env("OTEL_EBPF_OPEN_PORT"),
      exe: values.exe,
      exeEnv: env("OTEL_EBPF_AUTO_TARGET_EXE"),
    })
    : [];
  const opt = <T>(text: string | undefined, flag: string, parse: (t: string, w: string) => T): T | undefined =>
    text === undefined ? undefined : parse(text, flag);
  const maxQueueSpans = opt(values["queue-spans"], "--queue-spans", parseCount) ?? file.queueSpans;
  const maxQueueBytes = opt(values["queue-bytes"], "--queue-bytes", parseSize) ?? file.queueBytes;
  const spoolMaxBytes = opt(values["spool-max-bytes"], "--spool-max-bytes", parseSize) ?? file.spoolMaxBytes;
  const metricsPort = opt(values["metrics-port"], "--metrics-port", parsePort) ?? file.metricsPort;
  const spoolDir = values["spool-dir"] ?? file.spoolDir;
  const durationS = positiveNumber(values.duration, "--duration");
  const statsS = positiveNumber(values["stats-interval"], "--stats-interval");
  let spool: Spool | undefined;
  if (spoolDir !== undefined) {
    if (!exportConfig.outputs.some((x) => x.kind === "otlp")) {
      logger.warn("--spool-dir has no effect without an OTLP output", { dir: spoolDir });
    } else {
      try {
        spool = await openSpool({ dir: spoolDir, maxBytes: spoolMaxBytes, counters, logger });
      } catch (e) {
        throw new UserError(`--spool-dir ${spoolDir}: ${(e as Error).message}`, 1);
      }
    }
  }
  const metricsPlan = resolveMetrics({
    mode: values.metrics ?? file.metrics,
    collector: exportConfig.outputs.some((x) => x.kind === "otlp"),
    prometheusPort: metricsPort !== undefined,
    endpoint,
    protocol: values.protocol ?? file.protocol,
    compression: values.compression ?? file.compression,
    headers,
    env,
  });
  redactor.addUrl(env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"));
  learnSecrets(metricsPlan.otlp?.headers, metricsPlan.otlp?.endpoint);
  const sink = buildSink(exportConfig, { logger, counters, reliability: { maxQueueSpans, maxQueueBytes, spool } });
  const serviceName = values["service-name"] ?? file.serviceName ?? env("OTEL_SERVICE_NAME");
  const spanMetrics = createSpanMetricsOutput(metricsPlan, { counters, logger, scopeVersion: VERSION });
  const metricAttributes: Record<string, readonly string[]> = {};
  for (const p of probes) if (p.spec?.metricAttributes.length) metricAttributes[p.spec.name] = p.spec.metricAttributes;
  return await runAgent({
    start: async (abort) => {
      const runs = probes.length
        ? await startProbes(probes, {
          logger,
          counters,
          command: values.command,
          bpftrace: values.bpftrace ?? file.bpftrace,
          serviceName,
          resourceAttributes: env("OTEL_RESOURCE_ATTRIBUTES"),
          libbpf: env("SPANPROBE_LIBBPF"),
          cacheDir: resolveCacheDir({ flag: values["cache-dir"], config: file.ringbufCacheDir, env }),
          defines: file.ringbufDefines,
          abort,
        })
        : [];
      if (gotraceDir === undefined || abort.aborted) return runs;
      try {
        runs.push(
          await startGoTraceDir({
            dir: gotraceDir,
            stateDir: values["state-dir"] ?? file.stateDir ?? spoolDir,
            serviceName,
            resourceAttributes: env("OTEL_RESOURCE_ATTRIBUTES"),
            frames: gotraceFrames,
            goroutineEvents: values["gotrace-goroutine-events"],
            logger,
            counters,
          }),
        );
      } catch (e) {
        await Promise.all(runs.map((r) => r.stop()));
        throw e;
      }
      return runs;
    },
    sink,
    logger,
    counters,
    flushTimeoutMs: positiveNumber(values["flush-timeout"], "--flush-timeout") ?? file.flushTimeoutMs,
    statsIntervalMs: statsS !== undefined ? statsS * 1000 : file.statsIntervalMs,
    metricsPort,
    spanMetrics,
    metricAttributes,
    durationMs: durationS !== undefined ? durationS * 1000 : undefined,
    stop: env(WATCH_STDIN_ENV) === "1" ? watchParentPipe() : undefined,
    signals,
  });
}

async function gotraceCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: GOTRACE_OPTIONS, strict: true, allowPositionals: true });
  if (values.help) {
    out(GOTRACE_HELP);
    return 0;
  }
  const logger = createLogger({
    format: oneOf<LogFormat>(values["log-format"], ["human", "json"], "--log-format"),
    level: oneOf<LogLevel>(values["log-level"], ["debug", "info", "warn", "error"], "--log-level"),
    redact: redactor.redact,
  });
  const env = envGetter();
  const endpoint = values.endpoint ?? env("SPANPROBE_ENDPOINT");
  const headers = { ...launcherHeaders(env), ...parsePairs(values.header ?? [], "--header") };
  learnSecrets(headers, endpoint);
  for (const name of ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) redactor.addUrl(env(name));
  return await convertTraceFiles(values, positionals, { logger, endpoint, headers, onExport: learnSecrets });
}

async function checkCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: CHECK_OPTIONS, strict: true, allowPositionals: false });
  if (values.help) {
    out(CHECK_HELP);
    return 0;
  }
  const file = values.config ? loadAgentConfig(values.config) : {};
  const cliProbes = values.probe ?? [];
  const all = cliProbes.length === 0 && !file.probes;
  const probes = await planProbes({
    cliProbes: all ? listBundledProbes().map((p) => p.specPath) : cliProbes,
    cliParams: parsePairs(values.param ?? [], "--param"),
    binary: values.binary,
    fileProbes: file.probes,
    checkOnly: true,
  });
  // ring-buffer probes are built (when clang is there) and opened without loading: run's errors, before run
  const ringbuf = {
    libbpfPath: envGetter()("SPANPROBE_LIBBPF"),
    cacheDir: resolveCacheDir({ flag: values["cache-dir"], config: file.ringbufCacheDir, env: envGetter() }),
    defines: file.ringbufDefines,
  };
  for (const p of probes) for (const line of await checkProbe(p, { ringbuf })) out(line);
  if (values.config) out(`ok  config ${values.config}`);
  return 0;
}

async function probesCommand(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    out(PROBES_HELP);
    return 0;
  }
  if (args.length) throw new UserError(`probes takes no arguments (got ${args.join(" ")})`, 2);
  for (const p of listBundledProbes()) {
    let params = "";
    if (p.kind === "bpftrace") {
      const spec = await loadProbeSpec(p.specPath);
      params = spec.params.map((x) => `${x.name}${x.required ? "" : "?"}:${x.type}`).join(" ");
    }
    out(
      `${p.name.padEnd(20)} ${p.kind.padEnd(9)} ${p.description}${params ? `\n${"".padEnd(31)}params: ${params}` : ""}`,
    );
  }
  return 0;
}

/** Runs the command line; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "run":
        return await runCommand(rest);
      case "check":
        return await checkCommand(rest);
      case "probes":
        return await probesCommand(rest);
      case "gotrace":
        return await gotraceCommand(rest);
      case "--version":
      case "-V":
      case "version":
        out(`spanprobe ${VERSION}`);
        return 0;
      case undefined:
      case "--help":
      case "-h":
      case "help":
        out(MAIN_HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UserError(`unknown command "${command}" (expected run, check, probes or gotrace; see --help)`, 2);
    }
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`spanprobe: ${redactor.redact(e.message)}`);
      return e.exitCode;
    }
    const code = (e as { code?: string }).code;
    if (e instanceof TypeError && code?.startsWith("ERR_PARSE_ARGS")) {
      // one line: node's own message for a value that starts with "-" spans three
      const message = e.message.replace(/\s*\n\s*/g, " ");
      console.error(`spanprobe: ${redactor.redact(message)} (see 'spanprobe ${command} --help')`);
      return 2;
    }
    console.error(`spanprobe: ${redactor.redact(String((e as Error).stack ?? e))}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
