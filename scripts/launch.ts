/**
 * `deno task start`: runs spanprobe under the narrowest permission set its
 * command line needs (see lib/permissions.ts): bpftrace only, the probes and
 * config it names, network only to the configured collector (none for
 * console output), write only to file outputs, FFI only for ring-buffer
 * probes. Signals are forwarded; the agent ends when the launcher dies
 * (its stdin is a pipe from here: lib/agent/parent_watch.ts); the agent's exit
 * code is returned.
 * @module
 */
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadAgentConfig, parseOutput, parsePort } from "../lib/config/agent_config.ts";
import { findProbe } from "../lib/config/probe_catalog.ts";
import { CHECK_OPTIONS, GOTRACE_OPTIONS, RUN_OPTIONS } from "../lib/cli/options.ts";
import { resolveOtlpConfig } from "../lib/export/otlp_env.ts";
import { type GrantPath, permissionFlags, type PermissionOptions } from "../lib/permissions.ts";
import { parseProbeSpec } from "../lib/config/probe_spec.ts";
import { WATCH_STDIN_ENV } from "../lib/agent/parent_watch.ts";
import { UserError } from "../lib/core/errors.ts";
import { resolveMetrics } from "../lib/metrics/metrics_config.ts";
import { resolveCacheDir } from "../lib/sources/ringbuf/cache_dir.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** The `path`-typed parameter names of a bpftrace probe spec (their values become read grants). */
function pathParams(specPath: string): Set<string> {
  const spec = parseProbeSpec(specPath, Deno.readTextFileSync(specPath));
  return new Set(spec.params.filter((p) => p.type === "path").map((p) => p.name));
}

/** Where the agent will send span metrics over OTLP, if it will; a bad `--metrics` is the agent's to report. */
function metricsEndpoint(
  mode: string | undefined,
  collector: boolean,
  endpoint: string | undefined,
  env: (k: string) => string | undefined,
): string | undefined {
  try {
    return resolveMetrics({ mode, collector, prometheusPort: true, endpoint, env }).otlp?.endpoint;
  } catch {
    return undefined;
  }
}

/**
 * The permission options a `spanprobe run ARGS` invocation needs. Every path
 * is handed over with the option it came from; lib/permissions.ts validates
 * each before it becomes part of a flag. Relative parameter paths are
 * resolved against `cwd`, where the agent runs (the user's folder).
 */
export function permissionsForRun(
  args: string[],
  env: (k: string) => string | undefined,
  cwd: string = Deno.cwd(),
): PermissionOptions {
  const { values } = parseArgs({ args, options: RUN_OPTIONS, strict: true, allowPositionals: false });
  const file = values.config ? loadAgentConfig(values.config) : {};
  const read: GrantPath[] = [{ path: `${root}probes`, what: "the bundled probes folder" }];
  if (values.config) read.push({ path: values.config, what: "--config" });
  let ffi = false;
  let bpftraceProbes = false;
  const cliParams = (values.param ?? []).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]);
  const choices = values.probe?.map((probe) => ({ probe, params: {} as Record<string, string> })) ?? file.probes ??
    [];
  for (const choice of choices) {
    const ref = findProbe(choice.probe);
    if (!ref.specPath.startsWith(`${root}probes/`)) {
      read.push({ path: dirname(ref.specPath), what: `the folder of probe ${choice.probe}` });
    }
    if (ref.kind !== "bpftrace") ffi = true; // ringbuf, http and go load BPF objects through FFI
    else bpftraceProbes = true;
    // values of path parameters the user named (the agent checks that they exist)
    const paths = ref.kind === "ringbuf"
      ? new Set(["binary"])
      : ref.kind === "http" || ref.kind === "go"
      ? new Set<string>()
      : pathParams(ref.specPath);
    for (const [k, v] of [...cliParams, ...Object.entries(choice.params)]) {
      const name = k.startsWith(`${ref.name}.`) ? k.slice(ref.name.length + 1) : k;
      if (paths.has(name)) {
        read.push({ path: isAbsolute(v) || v.includes(",") ? v : resolve(cwd, v), what: `--param ${k}` });
      }
    }
  }
  if (values.binary !== undefined) read.push({ path: values.binary, what: "--binary" });
  // --probe go reads the executable it traces (symbols, DWARF); for the http probe --exe is a pattern
  if (choices.some((c) => findProbe(c.probe).kind === "go")) {
    for (const exe of values.exe ?? []) if (!/[*?[]/.test(exe)) read.push({ path: exe, what: "--exe" });
  }
  // --command with ring-buffer probes only: the agent starts it (bpftrace does otherwise)
  const run: string[] = [];
  if (values.command !== undefined && ffi && !bpftraceProbes) {
    const program = values.command.trim().split(/\s+/)[0];
    if (program) run.push(program.includes("/") && !isAbsolute(program) ? resolve(cwd, program) : program);
  }
  // the prebuilt objects of deno task compile, when built (used while they match the sources)
  if (ffi) read.push({ path: `${root}dist/bpf`, what: "the prebuilt BPF objects folder" });
  const outputs = values.output?.map(parseOutput) ?? file.outputs ?? [];
  const write = outputs.flatMap((o) => (o.kind === "file" ? [{ path: o.path, what: "--output file:" }] : []));
  const endpointFlag = values.endpoint ?? file.endpoint;
  const endpointKnown = endpointFlag !== undefined || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") !== undefined ||
    env("OTEL_EXPORTER_OTLP_ENDPOINT") !== undefined;
  const wantsOtlp = outputs.some((o) => o.kind === "otlp") || (outputs.length === 0 && endpointKnown);
  let net: PermissionOptions["net"];
  if (wantsOtlp) {
    // the agent's own rule: a malformed variable is ignored (the next source or the default applies)
    const url = new URL(resolveOtlpConfig(env, { endpoint: endpointFlag }).config.endpoint);
    // url.hostname keeps an IPv6 address in brackets, the form --allow-net needs
    net = [`${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`];
  }
  // span metrics over OTLP (docs/metrics.md) may go to their own endpoint: resolved as the agent resolves it
  const metricsOtlp = metricsEndpoint(values.metrics ?? file.metrics, wantsOtlp, endpointFlag, env);
  if (metricsOtlp) {
    const url = new URL(metricsOtlp);
    const host = `${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`;
    if (!net?.includes(host)) net = [...net ?? [], host];
  }
  const metricsPortText = values["metrics-port"];
  return {
    read,
    write,
    net,
    bpftrace: values.bpftrace ?? file.bpftrace,
    ffi,
    run,
    cacheDir: ffi ? resolveCacheDir({ flag: values["cache-dir"], config: file.ringbufCacheDir, env }) : undefined,
    spoolDir: values["spool-dir"] ?? file.spoolDir,
    metricsPort: metricsPortText !== undefined ? parsePort(metricsPortText, "--metrics-port") : file.metricsPort,
    gotraceDir: values["gotrace-dir"] ?? file.gotraceDir,
    stateDir: values["state-dir"] ?? file.stateDir,
  };
}

/** The permission options of `spanprobe gotrace ARGS`: read the named files, the collector, file outputs. */
export function permissionsForGotrace(args: string[], env: (k: string) => string | undefined): PermissionOptions {
  const { values, positionals } = parseArgs({ args, options: GOTRACE_OPTIONS, strict: true, allowPositionals: true });
  const read: GrantPath[] = [
    { path: `${root}probes`, what: "the bundled probes folder" },
    ...positionals.map((p) => ({ path: p, what: "the trace file" })),
  ];
  const outputs = values.output?.map(parseOutput) ?? [];
  const write = outputs.flatMap((o) => (o.kind === "file" ? [{ path: o.path, what: "--output file:" }] : []));
  const endpointKnown = values.endpoint !== undefined || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") !== undefined ||
    env("OTEL_EXPORTER_OTLP_ENDPOINT") !== undefined;
  const wantsOtlp = outputs.some((o) => o.kind === "otlp") || (outputs.length === 0 && endpointKnown);
  let net: PermissionOptions["net"];
  if (wantsOtlp) {
    const url = new URL(resolveOtlpConfig(env, { endpoint: values.endpoint }).config.endpoint);
    net = [`${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`];
  }
  return { read, write, net };
}

/**
 * The agent's command line without the values that may hold secrets
 * (`--header`, `--endpoint`), and the environment that carries them instead
 * (`SPANPROBE_HEADERS`, a percent-encoded `k=v` list, and
 * `SPANPROBE_ENDPOINT`): another user can read a process's command line, not
 * its environment.
 */
export function moveSecretsToEnv(args: string[]): { args: string[]; env: Record<string, string> } {
  const out: string[] = [];
  const headers: string[] = [];
  let endpoint: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const m = /^--(header|endpoint)(?:=(.*))?$/s.exec(a);
    if (!m) {
      out.push(a);
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) {
      out.push(a); // the agent reports the missing value
      break;
    }
    if (m[1] === "endpoint") endpoint = value;
    else {
      const eq = value.indexOf("=");
      if (eq < 0) {
        out.push("--header", value); // malformed: no secret to hide, the agent says what is wrong
        continue;
      }
      headers.push(`${encodeURIComponent(value.slice(0, eq))}=${encodeURIComponent(value.slice(eq + 1))}`);
    }
  }
  const env: Record<string, string> = {};
  if (headers.length) env.SPANPROBE_HEADERS = headers.join(",");
  if (endpoint !== undefined) env.SPANPROBE_ENDPOINT = endpoint;
  return { args: out, env };
}

/**
 * The directory the user ran the command in: `deno task` runs its tasks in
 * the repository and says where the user was in `INIT_CWD`. That variable is
 * trusted only when the launcher runs in the repository (as `deno task` starts
 * it): Deno keeps an `INIT_CWD` it inherits, so a launcher started directly
 * elsewhere by a process that had one (a nested task) uses its own folder.
 */
export function userCwd(env: (k: string) => string | undefined, cwd: string = Deno.cwd()): string {
  const init = env("INIT_CWD");
  return init && resolve(cwd) === resolve(root) ? init : cwd;
}

/** Options whose value is a path (`--probe` only when it is one: a bundled probe is a name). */
const PATH_OPTIONS: Record<string, (v: string) => boolean> = {
  "--config": () => true,
  "-c": () => true,
  "--binary": () => true,
  "--spool-dir": () => true,
  "--cache-dir": () => true,
  "--gotrace-dir": () => true,
  "--state-dir": () => true,
  "--probe": (v) => v.includes("/") || /\.(ya?ml|bt)$/.test(v),
  "-p": (v) => v.includes("/") || /\.(ya?ml|bt)$/.test(v),
  "--bpftrace": (v) => v.startsWith("./") || v.startsWith("../"),
  "--output": (v) => v.startsWith("file:"),
  "-o": (v) => v.startsWith("file:"),
};

/**
 * `args` with every relative path (`--config`, `--binary`, `--probe PATH`,
 * `--output file:PATH`, `--spool-dir`, `--cache-dir`, `--bpftrace ./x`) made absolute
 * against `cwd`, the user's directory, before any permission is derived
 * from them. Relative `--param` values are resolved by the agent, which
 * runs in `cwd`.
 */
export function absolutePaths(args: string[], cwd: string): string[] {
  const out: string[] = [];
  const abs = (opt: string, v: string) => {
    if (!PATH_OPTIONS[opt](v)) return v;
    const file = v.startsWith("file:");
    const path = file ? v.slice(5) : v;
    // a "," is refused by lib/permissions.ts, which names the value as the user wrote it
    if (path === "" || isAbsolute(path) || path.includes(",")) return v;
    return `${file ? "file:" : ""}${resolve(cwd, path)}`;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const eq = a.indexOf("=");
    const opt = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    if (!(opt in PATH_OPTIONS)) out.push(a);
    else if (opt !== a) out.push(`${opt}=${abs(opt, a.slice(eq + 1))}`);
    else if (i + 1 < args.length) out.push(a, abs(opt, args[++i]));
    else out.push(a);
  }
  return out;
}

/**
 * The agent's command line for the launcher's arguments: `run` is the
 * default command, so `deno task start --probe X` and `deno task start run
 * --probe X` are the same; `deno task start probes`, `check`, `--help` and
 * `--version` pass through.
 */
export function withCommand(args: string[]): string[] {
  return args.length > 0 && args[0].startsWith("-") && !["--help", "-h", "--version", "-V"].includes(args[0])
    ? ["run", ...args]
    : args;
}

/**
 * The permission options of `spanprobe COMMAND ARGS`: {@linkcode permissionsForRun}
 * for `run`, {@linkcode permissionsForGotrace} for `gotrace`; for `check`, read access to the probes and config it names (each
 * spec's folder: its script sits beside it) and bpftrace (for its parse);
 * for anything else, the bundled probes only.
 */
export function permissionsForCommand(
  command: string | undefined,
  args: string[],
  env: (k: string) => string | undefined,
  cwd: string = Deno.cwd(),
): PermissionOptions {
  if (args.includes("--help") || args.includes("-h")) return { read: [`${root}probes`] };
  if (command === "run") return permissionsForRun(args, env, cwd);
  if (command === "gotrace") return permissionsForGotrace(args, env);
  if (command !== "check") return { read: [`${root}probes`] };
  return permissionsForCheck(args, env, cwd);
}

/**
 * The permission options of `spanprobe check ARGS`: read the probes and
 * config it names (each spec's folder: its script sits beside it), bpftrace
 * (for its parse), and for ring-buffer probes (all bundled ones by default)
 * FFI, clang, bpftool, the prebuilt objects and the build cache, to build and
 * open their objects without loading them.
 */
export function permissionsForCheck(
  args: string[],
  env: (k: string) => string | undefined,
  cwd: string = Deno.cwd(),
): PermissionOptions {
  const { values } = parseArgs({ args, options: CHECK_OPTIONS, strict: true, allowPositionals: false });
  const read: GrantPath[] = [{ path: `${root}probes`, what: "the bundled probes folder" }];
  if (values.config) read.push({ path: values.config, what: "--config" });
  const file = values.config ? loadAgentConfig(values.config) : {};
  const cliParams = (values.param ?? []).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]);
  const choices = values.probe?.map((probe) => ({ probe, params: {} as Record<string, string> })) ?? file.probes ??
    [];
  // no probe named: check checks every bundled probe, ring-buffer ones among them
  let ffi = choices.length === 0;
  for (const choice of choices) {
    const ref = findProbe(choice.probe);
    if (!ref.specPath.startsWith(`${root}probes/`)) {
      read.push({ path: dirname(ref.specPath), what: `the folder of probe ${choice.probe}` });
    }
    if (ref.kind === "ringbuf") ffi = true;
    if (ref.kind !== "bpftrace") continue;
    const paths = pathParams(ref.specPath);
    for (const [k, v] of [...cliParams, ...Object.entries(choice.params)]) {
      const name = k.startsWith(`${ref.name}.`) ? k.slice(ref.name.length + 1) : k;
      if (paths.has(name)) {
        read.push({ path: isAbsolute(v) || v.includes(",") ? v : resolve(cwd, v), what: `--param ${k}` });
      }
    }
  }
  if (values.binary !== undefined) read.push({ path: values.binary, what: "--binary" });
  if (!ffi) return { read };
  read.push({ path: `${root}dist/bpf`, what: "the prebuilt BPF objects folder" });
  const cacheDir = resolveCacheDir({ flag: values["cache-dir"], config: file.ringbufCacheDir, env });
  return { read, ffi, cacheDir };
}

/**
 * The environment the launcher adds for the agent: the build cache folder it
 * resolved and granted (the sandboxed agent cannot read HOME to find it).
 */
export function launchEnv(p: PermissionOptions): Record<string, string> {
  return p.cacheDir ? { SPANPROBE_CACHE_DIR: p.cacheDir } : {};
}

/**
 * Passes SIGINT and SIGTERM on to `child` (which stops in order: summary,
 * exit code), waits for it, then exits with its code.
 */
export async function exitWithChild(child: Deno.ChildProcess): Promise<never> {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      try {
        child.kill(sig);
      } catch { /* exited */ }
    });
  }
  Deno.exit((await child.status).code);
}

if (import.meta.main) {
  let flags: string[];
  let added: Record<string, string> = {};
  const env = (k: string) => Deno.env.get(k);
  const cwd = userCwd(env);
  // relative paths anywhere (flags, the config file's probes, outputs and spool) are the user's
  Deno.chdir(cwd);
  const [command, ...rest] = absolutePaths(withCommand(Deno.args), cwd);
  try {
    const options = permissionsForCommand(command, rest, env, cwd);
    flags = permissionFlags(options, { cwd });
    added = launchEnv(options);
  } catch (e) {
    // one line: node's own parse message for a value that starts with "-" spans three
    console.error(
      `spanprobe: ${(e instanceof UserError ? e.message : (e as Error).message).replace(/\s*\n\s*/g, " ")}`,
    );
    Deno.exit(2);
  }
  const moved = command === "run" || command === "gotrace" ? moveSecretsToEnv(rest) : { args: rest, env: {} };
  if (moved.env.SPANPROBE_HEADERS) {
    console.error(
      "spanprobe: warning: --header values on the command line are visible in the process list and in " +
        "`deno task`'s echo; put secrets in OTEL_EXPORTER_OTLP_HEADERS or the config file's headers: (see README)",
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(moved.env.SPANPROBE_ENDPOINT ?? "")) {
    console.error(
      "spanprobe: warning: credentials in --endpoint are visible in the process list and in `deno task`'s echo; " +
        "put the endpoint in OTEL_EXPORTER_OTLP_ENDPOINT or the config file's exporter.endpoint (see README)",
    );
  }
  // stdin: a pipe never written to; the agent ends when it closes, i.e. when this launcher dies (even by SIGKILL)
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${root}main.ts`, ...(command === undefined ? [] : [command]), ...moved.args],
    stdin: "piped",
    env: { ...moved.env, ...added, [WATCH_STDIN_ENV]: "1" },
    cwd, // relative --param paths resolve where the user is
  }).spawn();
  await exitWithChild(child);
}
