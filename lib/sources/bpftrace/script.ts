/**
 * Preparing a bpftrace script: validated parameter substitution (no script
 * injection: every value must match its type's strict pattern) and the
 * agent's clock-calibration probes.
 * @module
 */
import type { ParamSpec, ProbeSpec } from "../../config/probe_spec.ts";
import { CLOCK_EVENT, clocksNeeded } from "../../streams/probe_events.ts";
import { UserError } from "../../core/errors.ts";

const PATTERNS: Record<ParamSpec["type"], [RegExp, string]> = {
  pid: [/^[1-9]\d{0,9}$/, "a process id (a positive integer)"],
  int: [/^-?\d{1,19}$/, "an integer"],
  identifier: [
    /^[A-Za-z_][A-Za-z0-9_]{0,127}$/,
    "an identifier (letters, digits, _)",
  ],
  path: [
    /^\/[A-Za-z0-9._\/+@-]{0,4095}$/,
    "an absolute path of letters, digits and . _ / + @ -",
  ],
  string: [
    /^[A-Za-z0-9._\/+@:, -]{0,255}$/,
    "text of letters, digits, spaces and . _ / + @ : , -",
  ],
};

/** How often the calibration record is re-emitted (clock steps). */
export const CALIBRATION_INTERVAL_S = 10;

/**
 * Validates `given` against the spec's parameters (unknown names, missing
 * required ones, type patterns, paths that do not exist) and applies
 * defaults. Errors are UserErrors (exit 2) naming the parameter.
 */
export function resolveParams(
  spec: ProbeSpec,
  given: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(given)) {
    if (!spec.params.some((p) => p.name === name)) {
      const known = spec.params.map((p) => p.name).join(", ") || "none";
      throw new UserError(
        `probe ${spec.name}: unknown parameter "${name}" (parameters: ${known})`,
        2,
      );
    }
  }
  for (const p of spec.params) {
    let value = given[p.name] ?? p.default;
    if (value === undefined) {
      if (p.required) {
        throw new UserError(
          `probe ${spec.name}: parameter "${p.name}" is required${
            p.description ? ` (${p.description})` : ""
          }; pass --param ${p.name}=...`,
          2,
        );
      }
      continue;
    }
    if (p.type === "path" && !value.startsWith("/")) {
      value = `${Deno.cwd()}/${value}`;
    }
    const [re, what] = PATTERNS[p.type];
    if (!re.test(value)) {
      throw new UserError(
        `probe ${spec.name}: parameter ${p.name}=${JSON.stringify(value)} must be ${what}`,
        2,
      );
    }
    if (p.type === "path") {
      try {
        Deno.statSync(value);
      } catch (e) {
        throw new UserError(
          `probe ${spec.name}: parameter ${p.name}: ${value}: ${(e as Error).message}`,
          2,
        );
      }
    }
    out[p.name] = value;
  }
  return out;
}

/**
 * The script text to run: `{{name}}` placeholders replaced by validated
 * values, plus calibration probes when the spec reads a kernel clock.
 */
export function prepareScript(
  spec: ProbeSpec,
  script: string,
  params: Record<string, string>,
): string {
  const text = script.replace(
    /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g,
    (_m, name: string) => {
      if (!spec.params.some((p) => p.name === name)) {
        throw new UserError(
          `${spec.scriptPath}: {{${name}}} is not a parameter of probe ${spec.name}; declare it under params in ${spec.specPath}`,
          2,
        );
      }
      const v = params[name];
      if (v === undefined) {
        throw new UserError(
          `probe ${spec.name}: the script uses {{${name}}} but no value was given; pass --param ${name}=...`,
          2,
        );
      }
      return v;
    },
  );
  if (clocksNeeded(spec.events.values()).size === 0) return text;
  const calib = `print(("${CLOCK_EVENT}", nsecs, strftime("%s.%f", nsecs)));`;
  // bpftrace allows one BEGIN probe: join the script's own if it has one.
  const begin = /(^|\n)([ \t]*BEGIN[ \t\r\n]*\{)/;
  const withBegin = begin.test(text)
    ? text.replace(
      begin,
      (_m, pre: string, open: string) => `${pre}${open} ${calib}`,
    )
    : `${text}\nBEGIN { ${calib} }`;
  return `${withBegin}\n// added by spanprobe: boot-clock → wall-clock calibration\ninterval:s:${CALIBRATION_INTERVAL_S} { ${calib} }\n`;
}
