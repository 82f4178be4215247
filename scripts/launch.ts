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
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadAgentConfig, parseOutput, parsePort } from "../lib/config/agent_config.ts";
import { findProbe } from "../lib/config/probe_catalog.ts";
import { RUN_OPTIONS } from "../lib/cli/options.ts";
import { type GrantPath, permissionFlags, type PermissionOptions } from "../lib/permissions.ts";
import { parseProbeSpec } from "../lib/config/probe_spec.ts";
import { WATCH_STDIN_ENV } from "../lib/agent/parent_watch.ts";
import { UserError } from "../lib/core/errors.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** The `path`-typed parameter names of a bpftrace probe spec (their values become read grants). */
function pathParams(specPath: string): Set<string> {
  const spec = parseProbeSpec(specPath, Deno.readTextFileSync(specPath));
  return new Set(spec.params.filter((p) => p.type === "path").map((p) => p.name));
}

/**
 * The permission options a `spanprobe run ARGS` invocation needs. Every path
 * is handed over with the option it came from; lib/permissions.ts validates
 * each before it becomes part of a flag.
 */
export function permissionsForRun(args: string[], env: (k: string) => string | undefined): PermissionOptions {
  const { values } = parseArgs({ args, options: RUN_OPTIONS, strict: true, allowPositionals: false });
  const file = values.config ? loadAgentConfig(values.config) : {};
  const read: GrantPath[] = [{ path: `${root}probes`, what: "the bundled probes folder" }];
  if (values.config) read.push({ path: values.config, what: "--config" });
  let ffi = false;
  const cliParams = (values.param ?? []).map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]);
  const choices = values.probe?.map((probe) => ({ probe, params: {} as Record<string, string> })) ?? file.probes ??
    [];
  for (const choice of choices) {
    const ref = findProbe(choice.probe);
    if (!ref.specPath.startsWith(`${root}probes/`)) {
      read.push({ path: dirname(ref.specPath), what: `the folder of probe ${choice.probe}` });
    }
    if (ref.kind === "ringbuf" || ref.kind === "go") ffi = true;
    // values of path parameters the user named (the agent checks that they exist)
    const paths = ref.kind === "bpftrace" ? pathParams(ref.specPath) : new Set(["binary"]);
    for (const [k, v] of [...cliParams, ...Object.entries(choice.params)]) {
      const name = k.startsWith(`${ref.name}.`) ? k.slice(ref.name.length + 1) : k;
      if (paths.has(name)) read.push({ path: v, what: `--param ${k}` });
    }
  }
  if (values.binary !== undefined) read.push({ path: values.binary, what: "--binary" });
  // --probe go reads the executable it traces (symbols, DWARF)
  if (values.exe !== undefined) read.push({ path: values.exe, what: "--exe" });
  const outputs = values.output?.map(parseOutput) ?? file.outputs ?? [];
  const write = outputs.flatMap((o) => (o.kind === "file" ? [{ path: o.path, what: "--output file:" }] : []));
  const endpoint = values.endpoint ?? file.endpoint ?? env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") ??
    env("OTEL_EXPORTER_OTLP_ENDPOINT");
  const wantsOtlp = outputs.some((o) => o.kind === "otlp") || (outputs.length === 0 && endpoint !== undefined);
  let net: PermissionOptions["net"];
  if (wantsOtlp) {
    const url = new URL(endpoint ?? "http://localhost:4318");
    // url.hostname keeps an IPv6 address in brackets, the form --allow-net needs
    net = [`${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`];
  }
  const metricsPortText = values["metrics-port"];
  return {
    read,
    write,
    net,
    bpftrace: values.bpftrace ?? file.bpftrace,
    ffi,
    cacheDir: ffi ? `${root}.cache` : undefined,
    spoolDir: values["spool-dir"] ?? file.spoolDir,
    metricsPort: metricsPortText !== undefined ? parsePort(metricsPortText, "--metrics-port") : file.metricsPort,
  };
}

if (import.meta.main) {
  let flags: string[];
  const [command, ...rest] = Deno.args;
  try {
    flags = command === "run" && !rest.includes("--help") && !rest.includes("-h")
      ? permissionFlags(permissionsForRun(rest, (k) => Deno.env.get(k)))
      : permissionFlags({ read: [`${root}probes`, ...rest.filter((a) => a.endsWith(".yaml"))] });
  } catch (e) {
    console.error(`spanprobe: ${e instanceof UserError ? e.message : (e as Error).message}`);
    Deno.exit(2);
  }
  // stdin: a pipe never written to; the agent ends when it closes, i.e. when this launcher dies (even by SIGKILL)
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${root}main.ts`, ...Deno.args],
    stdin: "piped",
    env: { [WATCH_STDIN_ENV]: "1" },
  }).spawn();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      try {
        child.kill(sig);
      } catch { /* exited */ }
    });
  }
  Deno.exit((await child.status).code);
}
