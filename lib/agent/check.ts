/**
 * `spanprobe check`: validates, without attaching anything and without the
 * target, everything `run` would reject — the spec (YAML, events, spans,
 * templates, clocks) or ring-buffer config, the script's presence, every
 * `{{param}}` it uses declared, the given parameter values — and, when
 * bpftrace is installed, bpftrace's own parse of the rendered script
 * (`bpftrace -d`), its errors pointing at the `.bt` file and line. Required
 * parameters that are not given are reported as not checked here.
 * @module
 */
import type { ParamSpec } from "../config/probe_spec.ts";
import { bpftraceDryRun } from "../sources/bpftrace/dry_run.ts";
import { prepareScript } from "../sources/bpftrace/script.ts";
import { UserError } from "../core/errors.ts";
import type { PlannedProbe } from "./probes.ts";

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
}

/**
 * Checks one planned probe; returns the report lines (`ok  …` and notes).
 * Throws a {@linkcode UserError} (exit 2) naming the file and line of the
 * first problem.
 */
export async function checkProbe(p: PlannedProbe, o: CheckOptions = {}): Promise<string[]> {
  const lines = [`ok  ${p.ref.name} (${p.ref.kind}) ${p.ref.specPath}`];
  const spec = p.spec;
  if (!spec) return lines; // ring-buffer configs are fully validated when loaded
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
