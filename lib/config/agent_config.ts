/**
 * The agent's settings: from the command line, an optional YAML config file
 * (`--config`), and the standard `OTEL_*` environment. Precedence: command
 * line > config file > environment > defaults.
 * @module
 */
import { UserError } from "../sources/probe_run.ts";
import {
  knownKeys,
  mapEntries,
  parseYamlSource,
  scalarValue,
  seqItems,
  stringValue,
  type YamlSource,
} from "./yaml_source.ts";

/** One probe to run. */
export interface ProbeChoice {
  /** A bundled name or a path to the probe's YAML. */
  probe: string;
  params: Record<string, string>;
  pid?: number;
}

/** Where spans go. */
export type OutputChoice = { kind: "console" } | { kind: "otlp" } | { kind: "file"; path: string };

/** Settings read from a config file (all optional). */
export interface FileConfig {
  probes?: ProbeChoice[];
  serviceName?: string;
  outputs?: OutputChoice[];
  endpoint?: string;
  protocol?: string;
  compression?: string;
  headers?: Record<string, string>;
  logFormat?: string;
  logLevel?: string;
  bpftrace?: string;
  flushTimeoutMs?: number;
  statsIntervalMs?: number;
}

/** Parses `--output` values: `console`, `otlp`, `file:PATH`. */
export function parseOutput(text: string): OutputChoice {
  if (text === "console" || text === "otlp") return { kind: text };
  if (text.startsWith("file:") && text.length > 5) return { kind: "file", path: text.slice(5) };
  throw new UserError(`--output ${text}: expected console, otlp or file:PATH`, 2);
}

/** Parses `k=v` pairs (for --param and --header). */
export function parsePairs(items: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const name = eq < 0 ? "" : item.slice(0, eq).trim();
    if (!name) throw new UserError(`${what} ${item}: expected NAME=VALUE`, 2);
    out[name] = item.slice(eq + 1);
  }
  return out;
}

function stringMap(src: YamlSource, node: unknown, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, , v] of mapEntries(src, node, what)) {
    const value = scalarValue(src, v, `${what}.${k}`);
    // `key:` with nothing after it is null in YAML, not the text "null"
    if (value === null) throw src.error(v, `${what}.${k} needs a value`);
    out[k] = String(value);
  }
  return out;
}

function positiveMs(src: YamlSource, node: unknown, what: string): number {
  const v = scalarValue(src, node, what);
  if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
    throw src.error(node, `${what} must be a positive number of milliseconds`);
  }
  return v;
}

/** Parses a config file's text. Throws UserError (exit 2) with file:line. */
export function parseAgentConfig(path: string, text: string): FileConfig {
  const src = parseYamlSource(path, text);
  if (src.root === null || src.root === undefined) return {};
  const k = knownKeys(src, src.root, "the config", [
    "probes",
    "service_name",
    "outputs",
    "exporter",
    "log",
    "bpftrace",
    "flush_timeout_ms",
    "stats_interval_ms",
  ]);
  const cfg: FileConfig = {};
  const probes = k.get("probes")?.value;
  if (probes !== undefined) {
    cfg.probes = seqItems(src, probes, "probes").map((item, i) => {
      const p = knownKeys(src, item, `probes[${i}]`, ["probe", "params", "pid"]);
      const probeNode = p.get("probe")?.value;
      if (probeNode === undefined) throw src.error(item, `probes[${i}]: probe is required (a bundled name or a path)`);
      const pidNode = p.get("pid")?.value;
      let pid: number | undefined;
      if (pidNode !== undefined) {
        const v = scalarValue(src, pidNode, `probes[${i}].pid`);
        if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
          throw src.error(pidNode, `probes[${i}].pid must be a process id`);
        }
        pid = v;
      }
      const params = p.get("params")?.value;
      return {
        probe: stringValue(src, probeNode, `probes[${i}].probe`),
        params: params === undefined ? {} : stringMap(src, params, `probes[${i}].params`),
        pid,
      };
    });
  }
  const sn = k.get("service_name")?.value;
  if (sn !== undefined) cfg.serviceName = stringValue(src, sn, "service_name");
  const outputs = k.get("outputs")?.value;
  if (outputs !== undefined) {
    cfg.outputs = seqItems(src, outputs, "outputs").map((n) => {
      try {
        return parseOutput(stringValue(src, n, "outputs[]"));
      } catch (e) {
        throw src.error(n, (e as Error).message.replace("--output ", ""));
      }
    });
  }
  const exp = k.get("exporter")?.value;
  if (exp !== undefined) {
    const e = knownKeys(src, exp, "exporter", ["endpoint", "protocol", "compression", "headers"]);
    const get = (key: string) => {
      const n = e.get(key)?.value;
      return n === undefined ? undefined : stringValue(src, n, `exporter.${key}`);
    };
    cfg.endpoint = get("endpoint");
    cfg.protocol = get("protocol");
    cfg.compression = get("compression");
    const h = e.get("headers")?.value;
    if (h !== undefined) cfg.headers = stringMap(src, h, "exporter.headers");
  }
  const log = k.get("log")?.value;
  if (log !== undefined) {
    const l = knownKeys(src, log, "log", ["format", "level"]);
    const f = l.get("format")?.value;
    const lv = l.get("level")?.value;
    if (f !== undefined) cfg.logFormat = stringValue(src, f, "log.format");
    if (lv !== undefined) cfg.logLevel = stringValue(src, lv, "log.level");
  }
  const bt = k.get("bpftrace")?.value;
  if (bt !== undefined) cfg.bpftrace = stringValue(src, bt, "bpftrace");
  const ft = k.get("flush_timeout_ms")?.value;
  if (ft !== undefined) cfg.flushTimeoutMs = positiveMs(src, ft, "flush_timeout_ms");
  const si = k.get("stats_interval_ms")?.value;
  if (si !== undefined) cfg.statsIntervalMs = positiveMs(src, si, "stats_interval_ms");
  return cfg;
}

/** Reads and parses a config file. */
export function loadAgentConfig(path: string): FileConfig {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read config: ${(e as Error).message}`, 2);
  }
  return parseAgentConfig(path, text);
}
