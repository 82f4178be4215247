/**
 * `spanprobe check`: validates, without attaching anything and without the
 * target, everything `run` would reject — the spec (YAML, events, spans,
 * templates, clocks) or ring-buffer config, the script's presence, every
 * `{{param}}` it uses declared, the given parameter values — and, when
 * bpftrace is installed, bpftrace's own parse of the rendered script
 * (`bpftrace -d`), its errors pointing at the `.bt` file and line; a
 * ring-buffer probe's program compiled (when clang is there) and its object
 * opened without loading, against its config. Required
 * parameters that are not given are reported as not checked here.
 * @module
 */
import type { ParamSpec } from "../config/probe_spec.ts";
import { bpftraceDryRun } from "../sources/bpftrace/dry_run.ts";
import { prepareScript } from "../sources/bpftrace/script.ts";
import { UserError } from "../core/errors.ts";
import type { PlannedProbe } from "./probes.ts";
import { createLogger } from "../telemetry/log.ts";

/** Stand-in values for required parameters that were not given, used only for bpftrace's parse. */
const STAND_IN: Record<ParamSpec["type"], string> = {
  // an executable that exists everywhere: bpftrace checks that a usdt/uprobe target exists
  path: "/bin/sh",
  pid: "1",
  int: "0",
  identifier: "spanprobe_check",
  string: "spanprobe_check",
};

/** Options of {@linkcode checkProbe}. */
export interface CheckOptions {
  /** Run bpftrace's dry-run parse (default true). */
  bpftraceParse?: boolean;
  /** The bpftrace executable. */
  bpftrace?: string;
  /** Ring-buffer probes: where libbpf is, the cache folder (objects go to its `bpf/`), build definitions. */
  ringbuf?: { libbpfPath?: string; cacheDir?: string; defines?: Record<string, string> };
}

/**
 * A ring-buffer probe: its program built (when clang is there) and its
 * object opened without loading, checked against the config — the same
 * errors as `run`. Needs FFI, libbpf (one line and exit 2 otherwise).
 */
async function checkRingbuf(p: PlannedProbe, o: CheckOptions, lines: string[]): Promise<string[]> {
  const { requireRingbufSupport } = await import("../sources/ringbuf/preflight.ts");
  const { checkRingbufProbe } = await import("../sources/ringbuf/check.ts");
  const { bpfCacheDir } = await import("../sources/ringbuf/cache_dir.ts");
  const r = o.ringbuf ?? {};
  requireRingbufSupport({ libbpfPath: r.libbpfPath });
  const result = await checkRingbufProbe({
    configPath: p.ref.specPath,
    config: p.tracing!,
    logger: createLogger({ level: "warn" }),
    libbpfPath: r.libbpfPath,
    cacheDir: r.cacheDir === undefined ? undefined : bpfCacheDir(r.cacheDir),
    build: r.defines ? { defines: r.defines } : undefined,
  });
  lines[0] += result.objectPath ? ` object ${result.objectPath}` : ` ${result.note}`;
  for (const w of result.warnings) lines.push(`    warning: ${w}`);
  return lines;
}

/**
 * Checks one planned probe; returns the report lines (`ok  …` and notes).
 * Throws a {@linkcode UserError} (exit 2) naming the file and line of the
 * first problem.
 */
export async function checkProbe(p: PlannedProbe, o: CheckOptions = {}): Promise<string[]> {
  const lines = [`ok  ${p.ref.name} (${p.ref.kind}) ${p.ref.specPath}`];
  const spec = p.spec;
  if (!spec) return p.ref.kind === "ringbuf" ? await checkRingbuf(p, o, lines) : lines;
  let script: string;
  try {
    script = await Deno.readTextFile(spec.scriptPath);
  } catch (e) {
    throw new UserError(`${spec.specPath}: cannot read script ${spec.scriptPath}: ${(e as Error).message}`, 2);
  }
  const params = { ...p.params };
  const standIns: string[] = [];
  for (const name of p.unchecked ?? []) {
    const decl = spec.params.find((x) => x.name === name)!;
    params[name] = STAND_IN[decl.type];
    standIns.push(params[name]);
    lines.push(
      `    not checked here: parameter "${name}" (required at run time; pass --param ${name}=... to check it)`,
    );
  }
  for (const decl of spec.params) params[decl.name] ??= decl.default ?? STAND_IN[decl.type];
  const program = prepareScript(spec, script, params); // undeclared {{placeholders}} fail here
  if (o.bpftraceParse === false) return lines;
  const parsed = await bpftraceDryRun({
    program,
    scriptPath: spec.scriptPath,
    bpftrace: o.bpftrace,
    ignoreMentions: standIns.filter((v) => v.startsWith("/")),
  });
  if (parsed.kind === "errors") {
    throw new UserError(`probe ${spec.name}: bpftrace rejects the script:\n${parsed.errors.join("\n")}`, 2);
  }
  lines.push(
    parsed.kind === "ok" ? "    bpftrace parse: ok" : `    bpftrace parse: not checked (${parsed.why})`,
  );
  return lines;
}
