/**
 * From command line and config to probes: locate each probe, load and
 * validate its spec and parameters (before anything is attached), and start
 * them.
 * @module
 */
import type { ProbeChoice } from "../config/agent_config.ts";
import { findProbe, type ProbeRef } from "../config/probe_catalog.ts";
import type { TracingConfig } from "../config/tracing_config.ts";
import type { AttachTarget } from "../ffi/bpf_object.ts";
import { loadProbeSpec, type ProbeSpec } from "../config/probe_spec.ts";
import { type GoSpec, loadGoSpec } from "../config/go_spec.ts";
import { openBpftraceProbe } from "../sources/bpftrace/mod.ts";
import { resolveParams } from "../sources/bpftrace/script.ts";
import { UserError } from "../core/errors.ts";
import type { ProbeRun } from "../core/probe_run.ts";
import { HTTP_PARAMS, type HttpParams, parseHttpParams } from "../sources/http/params.ts";
import { exeGlob, type HttpSelectors, parsePorts } from "../sources/http/selectors.ts";
import { createResourceCache } from "../spans/resources.ts";
import { parseResourceAttributes } from "../export/otlp_env.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { bpfCacheDir } from "../sources/ringbuf/cache_dir.ts";
import { startTracedCommand } from "./traced_command.ts";

/** A probe ready to start. */
export interface PlannedProbe {
  ref: ProbeRef;
  /** The bpftrace spec (bpftrace probes only). */
  spec?: ProbeSpec;
  /** The tracing config (ring-buffer probes only). */
  tracing?: TracingConfig;
  /** The Go probe spec (Go probes only). */
  go?: GoSpec;
  /** `--exe PATH` (Go probes). */
  exe?: string;
  /** `--param goroutines=true` (Go probes): hand request context down to new goroutines. */
  followGoroutines?: boolean;
  params: Record<string, string>;
  pid?: number;
  /** The http probe's selection and parameters (http probes only). */
  http?: { selectors: HttpSelectors; params: HttpParams };
  /** Required parameters not given (`check` only: they are checked at run time). */
  unchecked?: string[];
}

/** Inputs of {@linkcode planProbes}. */
export interface PlanInput {
  cliProbes: string[];
  cliParams: Record<string, string>;
  binary?: string;
  pid?: string;
  fileProbes?: ProbeChoice[];
  /** `--open-port` values (http probe). */
  openPorts?: string[];
  /** OTEL_EBPF_OPEN_PORT (used when `--open-port` is absent). */
  openPortEnv?: string;
  /** `--exe` values: globs for the http probe; for the Go probe, one absolute path. */
  exe?: string[];
  /** OTEL_EBPF_AUTO_TARGET_EXE (used when `--exe` is absent). */
  exeEnv?: string;
  /**
   * For `check`: a required parameter that is not given is reported in
   * `unchecked` instead of being an error (given values are validated fully).
   */
  checkOnly?: boolean;
}

/** Parameters of the Go probe. */
const GO_PARAMS = ["goroutines"];

function parseGoroutinesParam(value: string | undefined): boolean {
  if (value === undefined || value === "false") return false;
  if (value === "true") return true;
  throw new UserError(`--param goroutines=${value}: expected true or false`, 2);
}

/** The Go probe's `--exe`: at most one, an absolute path (a glob is the http probe's form). */
function goExecutable(values: string[] | undefined): string | undefined {
  if (!values?.length) return undefined;
  if (values.length > 1) {
    throw new UserError(`--exe given ${values.length} times: the Go probe traces one executable`, 2);
  }
  const exe = values[0];
  if (!exe.startsWith("/")) throw new UserError(`--exe ${exe}: give an absolute path`, 2);
  if (/[*?[]/.test(exe)) {
    throw new UserError(`--exe ${exe}: the Go probe needs the executable's path, not a pattern`, 2);
  }
  return exe;
}

function parsePid(text: string): number {
  if (!/^[1-9]\d{0,9}$/.test(text)) throw new UserError(`--pid ${text}: expected a process id`, 2);
  return Number(text);
}

/** Resolves and validates every probe; throws UserError (exit 2) on the first problem. */
export async function planProbes(input: PlanInput): Promise<PlannedProbe[]> {
  const choices: ProbeChoice[] = input.cliProbes.length
    ? input.cliProbes.map((probe) => ({ probe, params: {} }))
    : input.fileProbes ?? [];
  if (choices.length === 0) {
    throw new UserError("no probe given: pass --probe NAME (see 'spanprobe probes') or probes: in --config", 2);
  }
  const pid = input.pid !== undefined ? parsePid(input.pid) : undefined;
  const planned: PlannedProbe[] = [];
  const usedGlobal = new Set<string>();
  for (const choice of choices) {
    const ref = findProbe(choice.probe);
    const params: Record<string, string> = { ...choice.params };
    const spec = ref.kind === "bpftrace" ? await loadProbeSpec(ref.specPath) : undefined;
    const declared = new Set(
      spec?.params.map((p) => p.name) ?? (ref.kind === "http" ? HTTP_PARAMS : ref.kind === "go" ? GO_PARAMS : []),
    );
    const global: Record<string, string> = { ...input.cliParams };
    if (input.binary !== undefined) global.binary = input.binary;
    if (pid !== undefined) global.pid = String(pid);
    for (const [k, v] of Object.entries(global)) {
      const dot = k.indexOf(".");
      if (dot > 0) {
        if (k.slice(0, dot) === ref.name) params[k.slice(dot + 1)] = v;
        continue;
      }
      if (declared.has(k)) {
        params[k] = v;
        usedGlobal.add(k);
      }
    }
    let tracing: TracingConfig | undefined;
    if (ref.kind === "ringbuf") {
      if (input.binary !== undefined) params.binary = input.binary;
      // parsed (and so validated: labels, decoders) before anything is loaded
      const { loadTracingConfig } = await import("../config/tracing_config.ts");
      tracing = loadTracingConfig(ref.specPath);
    }
    let unchecked: string[] | undefined;
    if (spec && input.checkOnly) {
      unchecked = spec.params.filter((p) => p.required && params[p.name] === undefined).map((p) => p.name);
      const relaxed = spec.params.map((p) => unchecked!.includes(p.name) ? { ...p, required: false } : p);
      resolveParams({ ...spec, params: relaxed }, params);
    } else if (spec) resolveParams(spec, params);
    const planPid = choice.pid ?? pid;
    let http: PlannedProbe["http"];
    if (ref.kind === "http") {
      const fromCli = input.openPorts?.length ? input.openPorts : undefined;
      const ports = fromCli
        ? parsePorts(fromCli)
        : input.openPortEnv
        ? parsePorts([input.openPortEnv], "OTEL_EBPF_OPEN_PORT")
        : [];
      const exe = input.exe?.length ? input.exe : input.exeEnv ? [input.exeEnv] : [];
      for (const g of exe) exeGlob(g, input.exe?.length ? "--exe" : "OTEL_EBPF_AUTO_TARGET_EXE"); // validated before start
      const selectors = { ports, pids: planPid !== undefined ? [planPid] : [], exe };
      // `check` has no selectors: the selection is required at run time only
      if (!input.checkOnly && !ports.length && !selectors.pids.length && !exe.length) {
        throw new UserError(
          "the http probe needs a selection: --open-port PORTS (or OTEL_EBPF_OPEN_PORT), --pid PID or --exe GLOB",
          2,
        );
      }
      http = { selectors, params: parseHttpParams(params) };
    }
    let go: GoSpec | undefined;
    let followGoroutines = false;
    let goExe: string | undefined;
    if (ref.kind === "go") {
      go = loadGoSpec(ref.specPath);
      followGoroutines = parseGoroutinesParam(params.goroutines);
      const probePid = choice.pid ?? pid;
      goExe = goExecutable(input.exe);
      if (!input.checkOnly && (probePid === undefined) === (goExe === undefined)) {
        throw new UserError(`--probe ${ref.name}: give exactly one of --pid PID or --exe PATH (the Go program)`, 2);
      }
    }
    planned.push({ ref, spec, tracing, go, followGoroutines, exe: goExe, params, pid: planPid, http, unchecked });
  }
  if (input.openPorts?.length && !planned.some((p) => p.ref.kind === "http")) {
    throw new UserError("--open-port selects processes for the http probe: add --probe http", 2);
  }
  if (input.exe?.length && !planned.some((p) => p.ref.kind === "http" || p.ref.kind === "go")) {
    throw new UserError(
      "--exe selects processes for the http probe or names the Go probe's program: add --probe http or go",
      2,
    );
  }
  for (const k of Object.keys(input.cliParams)) {
    const dot = k.indexOf(".");
    const scoped = dot > 0 && planned.some((p) => p.ref.name === k.slice(0, dot));
    if (!usedGlobal.has(k) && !scoped) {
      throw new UserError(`--param ${k}: no selected probe has this parameter`, 2);
    }
  }
  return planned;
}

/** Shared options of {@linkcode startProbes}. */
export interface StartOptions {
  logger: Logger;
  counters: Counters;
  command?: string;
  bpftrace?: string;
  serviceName?: string;
  /** OTEL_RESOURCE_ATTRIBUTES text. */
  resourceAttributes?: string;
  /** libbpf.so.1 to load (ring-buffer probes; default: found in the standard library folders). */
  libbpf?: string;
  /** The cache folder (ring-buffer objects are built in its `bpf/`); see lib/sources/ringbuf/cache_dir.ts. */
  cacheDir?: string;
  /** `-D` definitions for ring-buffer probes built from source (e.g. SPANPROBE_WAKEUP_*). */
  defines?: Record<string, string>;
  /** A stop asked for during start-up: probes not started yet are skipped, a bpftrace still attaching is stopped. */
  abort?: AbortSignal;
}

/**
 * A ring-buffer probe's USDT/uprobe attach targets, pointed at `--binary`
 * and `--pid` when given (else as its config says).
 */
function retargetAttach(p: PlannedProbe): AttachTarget[] | undefined {
  const binary = p.params.binary;
  if (binary === undefined && p.pid === undefined) return undefined;
  return p.tracing!.attach.map((t) => {
    if (t.usdt) return { ...t, usdt: { ...t.usdt, binary: binary ?? t.usdt.binary, pid: p.pid ?? t.usdt.pid } };
    if (t.uprobe) {
      return { ...t, uprobe: { ...t.uprobe, binary: binary ?? t.uprobe.binary, pid: p.pid ?? t.uprobe.pid } };
    }
    return t;
  });
}

/**
 * `OTEL_RESOURCE_ATTRIBUTES` as attributes; a malformed value is ignored as a
 * whole with a warning naming the variable (the OpenTelemetry SDK
 * environment spec), never an error.
 */
function envResourceAttributes(text: string | undefined, logger: Logger): Record<string, string> {
  try {
    return parseResourceAttributes(text ?? "");
  } catch (e) {
    logger.warn(`OTEL_RESOURCE_ATTRIBUTES ignored: ${(e as Error).message}`);
    return {};
  }
}

/**
 * Starts every planned probe. A probe that cannot attach is logged as an
 * error (which probe, why) and the others run without it; when none can
 * run, this throws (the CLI exits non-zero) with every probe's reason.
 */
export async function startProbes(planned: PlannedProbe[], o: StartOptions): Promise<ProbeRun[]> {
  const resourceAttributes = envResourceAttributes(o.resourceAttributes, o.logger);
  const resources = createResourceCache({ serviceName: o.serviceName, extra: resourceAttributes });
  const runs: ProbeRun[] = [];
  const ringRuns = new Set<ProbeRun>();
  const failures: { name: string; error: Error }[] = [];
  try {
    for (const p of planned) {
      if (o.abort?.aborted) break;
      try {
        if (p.ref.kind === "go") {
          // loaded on demand, like the ring-buffer source (FFI); the agent provides its object
          const { requireRingbufSupport } = await import("../sources/ringbuf/preflight.ts");
          requireRingbufSupport({ libbpfPath: o.libbpf, btf: true });
          const { openGoProbe } = await import("../sources/go/mod.ts");
          const { resolveProbeObject } = await import("../sources/ringbuf/mod.ts");
          const specPath = p.ref.specPath;
          const cacheDir = o.cacheDir === undefined ? undefined : bpfCacheDir(o.cacheDir);
          const build = o.defines ? { defines: o.defines } : undefined;
          const run = await openGoProbe({
            // the ring-buffer rule: NAME.bpf.o beside the spec, the prebuilt embedded object, else built
            buildObject: () => resolveProbeObject({ configPath: specPath, cacheDir, build, logger: o.logger }),
            specPath,
            spec: p.go,
            followGoroutines: p.followGoroutines,
            pid: p.pid,
            exe: p.exe,
            logger: o.logger,
            counters: o.counters,
            libbpfPath: o.libbpf,
            serviceName: o.serviceName,
            resourceAttributes,
          });
          runs.push(run);
          ringRuns.add(run); // --command: started by the agent, as for ring-buffer probes
          continue;
        }
        if (p.ref.kind === "http") {
          // loaded on demand, like the ring-buffer source (FFI); its object is found, embedded or
          // built exactly as a ring-buffer probe's (probes/http.bpf.c beside probes/http.yaml)
          const { requireRingbufSupport } = await import("../sources/ringbuf/preflight.ts");
          requireRingbufSupport({ libbpfPath: o.libbpf, btf: true });
          const { resolveProbeObject } = await import("../sources/ringbuf/mod.ts");
          const { openHttpProbe } = await import("../sources/http/mod.ts");
          const object = await resolveProbeObject({
            configPath: p.ref.specPath,
            logger: o.logger,
            cacheDir: o.cacheDir === undefined ? undefined : bpfCacheDir(o.cacheDir),
            build: o.defines ? { defines: o.defines } : undefined,
          });
          const hp = p.http!.params;
          const run = openHttpProbe({
            objectPath: object.objectPath,
            objectBytes: object.bytes,
            selectors: p.http!.selectors,
            logger: o.logger,
            counters: o.counters,
            libbpfPath: o.libbpf,
            captureBytes: hp.captureBytes,
            routes: hp.routes,
            urlQuery: hp.urlQuery,
            commandLine: hp.commandLine,
            linkGraceMs: hp.linkGraceMs,
            resourceAttributes,
          });
          runs.push(run);
          ringRuns.add(run); // --command: started by the agent, as for ring-buffer probes
          continue;
        }
        if (p.ref.kind === "ringbuf") {
          // loaded on demand: a bpftrace-only run needs no FFI permission at all
          const { requireRingbufSupport } = await import("../sources/ringbuf/preflight.ts");
          requireRingbufSupport({ libbpfPath: o.libbpf, btf: true });
          const { openRingbufProbe } = await import("../sources/ringbuf/mod.ts");
          const run = await openRingbufProbe({
            configPath: p.ref.specPath,
            config: p.tracing,
            logger: o.logger,
            counters: o.counters,
            libbpfPath: o.libbpf,
            serviceName: o.serviceName,
            resourceAttributes,
            attach: retargetAttach(p),
            cacheDir: o.cacheDir === undefined ? undefined : bpfCacheDir(o.cacheDir),
            build: o.defines ? { defines: o.defines } : undefined,
          });
          runs.push(run);
          ringRuns.add(run);
          continue;
        }
        runs.push(
          await openBpftraceProbe({
            spec: p.spec!,
            params: p.params,
            pid: p.pid,
            command: o.command,
            bpftrace: o.bpftrace,
            resources,
            logger: o.logger,
            counters: o.counters,
            abort: o.abort,
          }),
        );
      } catch (e) {
        // usage and config errors (exit 2) stop everything; runtime ones only this probe
        if (e instanceof UserError && e.exitCode === 2) throw e;
        failures.push({ name: p.ref.name, error: e as Error });
        if (planned.length > 1) {
          o.logger.error("probe cannot run; going on without it", { probe: p.ref.name, error: (e as Error).message });
        }
      }
    }
  } catch (e) {
    await Promise.all(runs.map((r) => r.stop()));
    throw e;
  }
  if (runs.length === 0) {
    if (failures.length === 1) throw failures[0].error;
    throw new UserError(
      `no probe could run:\n${failures.map((f) => `  ${f.error.message.replace(/\n/g, "\n  ")}`).join("\n")}`,
      1,
    );
  }
  if (o.command === undefined || ringRuns.size === 0) return runs;
  return await tieToCommand(runs, ringRuns, o.command, o.logger);
}

/**
 * `--command` with ring-buffer probes: they end when the command does.
 * bpftrace probes start it themselves (`-c`), so with any of them the
 * ring-buffer probes stop once every bpftrace probe has ended; otherwise the
 * command is started here, now that everything is attached, and is sent
 * SIGTERM when the agent stops first.
 */
async function tieToCommand(
  runs: ProbeRun[],
  ringRuns: Set<ProbeRun>,
  command: string,
  logger: Logger,
): Promise<ProbeRun[]> {
  const others = runs.filter((r) => !ringRuns.has(r));
  const stopRings = () =>
    Promise.all([...ringRuns].map((r) => r.stop())).catch((e) => {
      logger.error("cannot stop the ring-buffer probes after --command ended", { error: (e as Error).message });
    });
  if (others.length) {
    void Promise.allSettled(others.map((r) => r.done)).then(stopRings);
    return runs;
  }
  let traced;
  try {
    traced = startTracedCommand(command, logger);
  } catch (e) {
    await Promise.all(runs.map((r) => r.stop()));
    throw e;
  }
  const cmd = traced;
  void cmd.status.then(stopRings);
  return runs.map((r): ProbeRun => ({
    name: r.name,
    spans: r.spans,
    done: r.done,
    stop: () => {
      cmd.kill();
      return r.stop();
    },
  }));
}
