/**
 * `deno task start`: runs spanprobe under the narrowest permission set its
 * command line needs (see lib/permissions.ts): bpftrace only, the probes and
 * config it names, network only to the configured collector (none for
 * console output), write only to file outputs, FFI only for ring-buffer
 * probes. Signals are forwarded; the agent's exit code is returned.
 * @module
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { loadAgentConfig, parseOutput, parsePort } from "../lib/config/agent_config.ts";
import { findProbe } from "../lib/config/probe_catalog.ts";
import { RUN_OPTIONS } from "../lib/cli/options.ts";
import { permissionFlags, type PermissionOptions } from "../lib/permissions.ts";
import { UserError } from "../lib/sources/probe_run.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** The permission options a `spanprobe run ARGS` invocation needs. */
export function permissionsForRun(args: string[], env: (k: string) => string | undefined): PermissionOptions {
  const { values } = parseArgs({ args, options: RUN_OPTIONS, strict: true, allowPositionals: false });
  const file = values.config ? loadAgentConfig(values.config) : {};
  const read = [`${root}probes`];
  if (values.config) read.push(values.config);
  let ffi = false;
  for (const p of values.probe ?? file.probes?.map((x) => x.probe) ?? []) {
    const ref = findProbe(p);
    if (!ref.specPath.startsWith(`${root}probes/`)) read.push(dirname(ref.specPath));
    if (ref.kind === "ringbuf" || ref.kind === "go") ffi = true;
  }
  // path parameters the user named (the agent checks that they exist)
  const paramValues = [
    values.binary,
    values.exe, // --probe go reads the executable it traces
    ...(values.param ?? []).map((p) => p.slice(p.indexOf("=") + 1)),
    ...(file.probes ?? []).flatMap((p) => Object.values(p.params)),
  ];
  for (const v of paramValues) if (v?.startsWith("/")) read.push(v);
  const outputs = values.output?.map(parseOutput) ?? file.outputs ?? [];
  const write = outputs.flatMap((o) => (o.kind === "file" ? [o.path] : []));
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
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${root}main.ts`, ...Deno.args],
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
