/**
 * Preparing a bpftrace script: validated parameter substitution (no script
 * injection: every value must match its type's strict pattern and stays in
 * its syntactic slot — string literal, attach point or code) and the agent's
 * clock-calibration probes.
 * @module
 */
import { resolve } from "node:path";
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
    /^[\x20-\x24\x26-\x7e]{0,255}$/,
    "printable text without % (at most 255 characters, no control characters)",
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
    if (p.type === "path" && !value.startsWith("/")) value = resolve(Deno.cwd(), value);
    const [re, what] = PATTERNS[p.type];
    if (!re.test(value)) {
      throw new UserError(
        `probe ${spec.name}: parameter ${p.name}=${JSON.stringify(value)} must be ${what}`,
        2,
      );
    }
    if (p.type === "path") {
      let real: string;
      try {
        Deno.statSync(value);
        real = Deno.realPathSync(value);
      } catch (e) {
        throw new UserError(
          `probe ${spec.name}: parameter ${p.name}: ${value}: ${(e as Error).message}`,
          2,
        );
      }
      // the sandbox checks paths as written: a link would reach where it points
      if (real !== value) {
        throw new UserError(
          `probe ${spec.name}: parameter ${p.name}=${value} goes through a symbolic link or "..": pass its real path ${real}`,
          2,
        );
      }
    }
    out[p.name] = value;
  }
  return out;
}

/**
 * Where a `{{name}}` placeholder stands in a bpftrace script: inside a
 * string literal, in a probe's attach point (outside braces and predicate),
 * in code (a predicate or an action block), or in a comment.
 */
export type PlaceholderSlot = "literal" | "attach" | "code" | "comment";

/** A placeholder found in a script. */
export interface Placeholder {
  name: string;
  slot: PlaceholderSlot;
  /** 1-based line. */
  line: number;
  start: number;
  end: number;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/y;

/**
 * Every placeholder of `script` with its syntactic slot, by a small lexer of
 * bpftrace's structure: comments, string literals (with `\` escapes), brace
 * depth, and predicates (at depth 0, a `/` after whitespace opens one; all up
 * to the action block's `{` is then code).
 */
export function findPlaceholders(script: string): Placeholder[] {
  const out: Placeholder[] = [];
  const lineAt = (pos: number) => script.slice(0, pos).split("\n").length;
  /** The placeholder at `pos`, recorded in `slot`; its length, or 0 when there is none. */
  const take = (pos: number, slot: PlaceholderSlot): number => {
    PLACEHOLDER.lastIndex = pos;
    const m = PLACEHOLDER.exec(script);
    if (!m) return 0;
    out.push({ name: m[1], slot, line: lineAt(pos), start: pos, end: pos + m[0].length });
    return m[0].length;
  };
  /** Placeholders in script[from, to) (a comment or a string literal's inside). */
  const within = (from: number, to: number, slot: PlaceholderSlot) => {
    for (let k = script.indexOf("{{", from); k >= 0 && k < to; k = script.indexOf("{{", k + 1)) {
      const n = take(k, slot);
      if (n) k += n - 1;
    }
  };
  let depth = 0;
  let predicate = false;
  for (let i = 0; i < script.length;) {
    const c = script[i];
    if (c === "{" && script[i + 1] === "{") {
      const n = take(i, depth > 0 || predicate ? "code" : "attach");
      if (n) {
        i += n;
        continue;
      }
    }
    if (c === "/" && (script[i + 1] === "/" || script[i + 1] === "*")) {
      const close = script[i + 1] === "/" ? script.indexOf("\n", i) : script.indexOf("*/", i + 2);
      const to = close < 0 ? script.length : script[i + 1] === "/" ? close : close + 2;
      within(i, to, "comment");
      i = to;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < script.length && script[j] !== '"') j += script[j] === "\\" ? 2 : 1;
      within(i + 1, j, "literal");
      i = j + 1;
      continue;
    }
    if (c === "{") {
      depth++;
      predicate = false; // the action block starts: the next probe's attach point comes after it
    } else if (c === "}") depth = Math.max(0, depth - 1);
    else if (c === "/" && depth === 0 && (i === 0 || /\s/.test(script[i - 1]))) {
      // a predicate: everything up to the action block is code (a division inside it included)
      predicate = true;
    }
    i++;
  }
  return out;
}

/** A value as the inside of a bpftrace string literal: `\` and `"` escaped. */
export function literalText(value: string): string {
  return value.replace(/[\\"]/g, (c) => `\\${c}`);
}

/** What a `string` value may contain in an attach point: one segment, no `/`, `,`, `:`, `*` or whitespace. */
const ATTACH_TOKEN = /^[A-Za-z0-9_.+@-]{1,255}$/;

/**
 * The script text to run: `{{name}}` placeholders replaced by validated
 * values, each confined to its syntactic slot (docs/probe-spec.md):
 * in a string literal any type, escaped; in an attach point one segment
 * (a `string` value must be letters, digits and `. _ + @ -`); in code only
 * `pid`, `int` (negative ones in parentheses) and `identifier` — a `path` or
 * `string` there is a script error. Placeholders in comments are left as
 * written. Plus calibration probes when the spec reads a kernel clock.
 */
export function prepareScript(
  spec: ProbeSpec,
  script: string,
  params: Record<string, string>,
): string {
  let text = "";
  let at = 0;
  for (const ph of findPlaceholders(script)) {
    text += script.slice(at, ph.start);
    at = ph.end;
    if (ph.slot === "comment") {
      text += script.slice(ph.start, ph.end);
      continue;
    }
    const { name } = ph;
    const param = spec.params.find((p) => p.name === name);
    if (!param) {
      throw new UserError(
        `${spec.scriptPath}:${ph.line}: {{${name}}} is not a parameter of probe ${spec.name}; declare it under params in ${spec.specPath}`,
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
    text += slotValue(spec, param, ph, v);
  }
  text += script.slice(at);
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

/** `v` (already valid for its type) as it may stand in `ph`'s slot; throws UserError (exit 2) otherwise. */
function slotValue(spec: ProbeSpec, param: ParamSpec, ph: Placeholder, v: string): string {
  const where = `${spec.scriptPath}:${ph.line}`;
  switch (ph.slot) {
    case "literal":
      return literalText(v);
    case "attach":
      if (param.type === "string" && !ATTACH_TOKEN.test(v)) {
        throw new UserError(
          `probe ${spec.name}: parameter ${param.name}=${
            JSON.stringify(v)
          } is used in an attach point (${where}): it must be one segment of letters, digits and . _ + @ - (no "/", ",", ":", "*" or whitespace)`,
          2,
        );
      }
      return v;
    default:
      if (param.type === "path" || param.type === "string") {
        throw new UserError(
          `${where}: {{${param.name}}} (a ${param.type} parameter) stands in code, where a value could change the script; put it in a string literal: "{{${param.name}}}"`,
          2,
        );
      }
      return param.type === "int" && v.startsWith("-") ? `(${v})` : v;
  }
}
