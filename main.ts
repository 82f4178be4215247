/**
 * spanprobe's command line: `run`, `check`, `probes`.
 * @module
 */
import { parseArgs } from "node:util";
import { runAgent } from "./lib/agent/run_agent.ts";
import { WATCH_STDIN_ENV, watchParentPipe } from "./lib/agent/parent_watch.ts";
import { CHECK_HELP, MAIN_HELP, PROBES_HELP, RUN_HELP } from "./lib/cli/help.ts";
import { buildSink, resolveExport } from "./lib/agent/outputs.ts";
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
import { listBundledProbes } from "./lib/config/probe_catalog.ts";
import { loadProbeSpec } from "./lib/config/probe_spec.ts";
import { UserError } from "./lib/core/errors.ts";
import { createCounters } from "./lib/telemetry/counters.ts";
import { createLogger, type LogFormat, type LogLevel } from "./lib/telemetry/log.ts";
import { VERSION } from "./lib/core/version.ts";
import { CHECK_OPTIONS, RUN_OPTIONS } from "./lib/cli/options.ts";

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

async function runCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: RUN_OPTIONS, strict: true, allowPositionals: false });
  if (values.help) {
    out(RUN_HELP);
    return 0;
  }
  const file = values.config ? loadAgentConfig(values.config) : {};
  const logger = createLogger({
    format: oneOf<LogFormat>(values["log-format"] ?? file.logFormat, ["human", "json"], "--log-format"),
    level: oneOf<LogLevel>(values["log-level"] ?? file.logLevel, ["debug", "info", "warn", "error"], "--log-level"),
  });
  const counters = createCounters();
  const env = envGetter();
  const exportConfig = resolveExport({
    outputs: values.output?.map(parseOutput) ?? file.outputs,
    endpoint: values.endpoint ?? file.endpoint,
    protocol: values.protocol ?? file.protocol,
    compression: values.compression ?? file.compression,
    headers: { ...file.headers, ...parsePairs(values.header ?? [], "--header") },
    env,
  });
  const probes: PlannedProbe[] = await planProbes({
    cliProbes: values.probe ?? [],
    cliParams: parsePairs(values.param ?? [], "--param"),
    binary: values.binary,
    pid: values.pid,
    exe: values.exe,
    fileProbes: file.probes,
  });
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
  const sink = buildSink(exportConfig, { logger, counters, reliability: { maxQueueSpans, maxQueueBytes, spool } });
  return await runAgent({
    start: () =>
      startProbes(probes, {
        logger,
        counters,
        command: values.command,
        bpftrace: values.bpftrace ?? file.bpftrace,
        serviceName: values["service-name"] ?? file.serviceName ?? env("OTEL_SERVICE_NAME"),
        resourceAttributes: env("OTEL_RESOURCE_ATTRIBUTES"),
        libbpf: env("SPANPROBE_LIBBPF"),
      }),
    sink,
    logger,
    counters,
    flushTimeoutMs: positiveNumber(values["flush-timeout"], "--flush-timeout") ?? file.flushTimeoutMs,
    statsIntervalMs: statsS !== undefined ? statsS * 1000 : file.statsIntervalMs,
    metricsPort,
    durationMs: durationS !== undefined ? durationS * 1000 : undefined,
    stop: env(WATCH_STDIN_ENV) === "1" ? watchParentPipe() : undefined,
  });
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
    validateParams: !all,
    checkOnly: true,
  });
  for (const p of probes) out(`ok  ${p.ref.name} (${p.ref.kind}) ${p.ref.specPath}`);
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
        throw new UserError(`unknown command "${command}" (expected run, check or probes; see --help)`, 2);
    }
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`spanprobe: ${e.message}`);
      return e.exitCode;
    }
    const code = (e as { code?: string }).code;
    if (e instanceof TypeError && code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`spanprobe: ${e.message} (see 'spanprobe ${command} --help')`);
      return 2;
    }
    console.error(`spanprobe: ${(e as Error).stack ?? e}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
