/**
 * The agent's settings: from the command line, an optional YAML config file
 * (`--config`), and the standard `OTEL_*` environment. Precedence: command
 * line > config file > environment > defaults.
 * @module
 */
import { UserError } from "../core/errors.ts";
import { readConfigText } from "./text_file.ts";
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
  /** Export memory bounds. */
  queueSpans?: number;
  queueBytes?: number;
  /** The disk spool folder and its cap. */
  spoolDir?: string;
  spoolMaxBytes?: number;
  /** Prometheus metrics on 127.0.0.1:metricsPort. */
  metricsPort?: number;
  /** Ring-buffer probes: the build cache folder (`ringbuf.cache_dir`). */
  ringbufCacheDir?: string;
  /** Ring-buffer probes: `-D` definitions when building from source (`ringbuf.wakeup`). */
  ringbufDefines?: Record<string, string>;
  /** Watched folder of Go execution traces (`--gotrace-dir`). */
  gotraceDir?: string;
  /** Writable folder for source state such as converted trace files (`--state-dir`). */
  stateDir?: string;
  /** Where span metrics go: off, otlp, prometheus or both (docs/metrics.md). */
  metrics?: string;
}

/** `ringbuf.wakeup` keys and the spanprobe.bpf.h macros they set. */
const WAKEUP_DEFINES: Readonly<Record<string, string>> = {
  interval_ns: "SPANPROBE_WAKEUP_INTERVAL_NS",
  min_gap_ns: "SPANPROBE_WAKEUP_MIN_GAP_NS",
  divisor: "SPANPROBE_WAKEUP_DIVISOR",
};

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte size: `1048576`, `512KiB`, `64MiB`, `1GiB` (K/M/G and KB/MB/GB are binary too). */
export function parseSize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new UserError(`${what} ${text}: expected a size like 1048576, 512KiB, 64MiB or 1GiB`, 2);
  }
  const n = Math.floor(Number(m[1]) * unit);
  if (!(n > 0) || !Number.isSafeInteger(n)) throw new UserError(`${what} ${text}: must be a positive size`, 2);
  return n;
}

/** A positive integer count (spans). */
export function parseCount(text: string, what: string): number {
  if (!/^\s*[1-9]\d{0,14}\s*$/.test(text)) throw new UserError(`${what} ${text}: expected a positive integer`, 2);
  return Number(text);
}

/** A TCP port, 1-65535. */
export function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text.trim()) || n < 1 || n > 65535) {
    throw new UserError(`${what} ${text}: expected a port number (1-65535)`, 2);
  }
  return n;
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
    "metrics_port",
    "ringbuf",
    "gotrace_dir",
    "state_dir",
    "metrics",
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
    const e = knownKeys(src, exp, "exporter", [
      "endpoint",
      "protocol",
      "compression",
      "headers",
      "queue_spans",
      "queue_bytes",
      "spool_dir",
      "spool_max_bytes",
    ]);
    const get = (key: string) => {
      const n = e.get(key)?.value;
      return n === undefined ? undefined : stringValue(src, n, `exporter.${key}`);
    };
    cfg.endpoint = get("endpoint");
    cfg.protocol = get("protocol");
    cfg.compression = get("compression");
    const h = e.get("headers")?.value;
    if (h !== undefined) cfg.headers = stringMap(src, h, "exporter.headers");
    const scalar = (key: string, parse: (text: string, what: string) => number) => {
      const n = e.get(key)?.value;
      if (n === undefined) return undefined;
      const v = scalarValue(src, n, `exporter.${key}`);
      try {
        return parse(String(v), `exporter.${key}:`);
      } catch (err) {
        throw src.error(n, (err as Error).message);
      }
    };
    const queueSpans = scalar("queue_spans", parseCount);
    if (queueSpans !== undefined) cfg.queueSpans = queueSpans;
    const queueBytes = scalar("queue_bytes", parseSize);
    if (queueBytes !== undefined) cfg.queueBytes = queueBytes;
    const spoolMaxBytes = scalar("spool_max_bytes", parseSize);
    if (spoolMaxBytes !== undefined) cfg.spoolMaxBytes = spoolMaxBytes;
    const spoolDir = get("spool_dir");
    if (spoolDir !== undefined) cfg.spoolDir = spoolDir;
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
  const gd = k.get("gotrace_dir")?.value;
  if (gd !== undefined) cfg.gotraceDir = stringValue(src, gd, "gotrace_dir");
  const sd = k.get("state_dir")?.value;
  if (sd !== undefined) cfg.stateDir = stringValue(src, sd, "state_dir");
  const mp = k.get("metrics_port")?.value;
  if (mp !== undefined) {
    try {
      cfg.metricsPort = parsePort(String(scalarValue(src, mp, "metrics_port")), "metrics_port:");
    } catch (err) {
      throw src.error(mp, (err as Error).message);
    }
  }
  const rb = k.get("ringbuf")?.value;
  if (rb !== undefined) {
    const r = knownKeys(src, rb, "ringbuf", ["cache_dir", "wakeup"]);
    const cd = r.get("cache_dir")?.value;
    if (cd !== undefined) {
      cfg.ringbufCacheDir = stringValue(src, cd, "ringbuf.cache_dir");
      if (!cfg.ringbufCacheDir.startsWith("/")) throw src.error(cd, "ringbuf.cache_dir must be an absolute path");
    }
    const wk = r.get("wakeup")?.value;
    if (wk !== undefined) {
      const w = knownKeys(src, wk, "ringbuf.wakeup", Object.keys(WAKEUP_DEFINES));
      cfg.ringbufDefines = {};
      for (const [key, { value }] of w) {
        const v = scalarValue(src, value, `ringbuf.wakeup.${key}`);
        if (typeof v !== "number" || !Number.isSafeInteger(v) || v < (key === "divisor" ? 1 : 0)) {
          throw src.error(value, `ringbuf.wakeup.${key} must be an integer ≥ ${key === "divisor" ? 1 : 0}`);
        }
        cfg.ringbufDefines[WAKEUP_DEFINES[key]] = key === "divisor" ? String(v) : `${v}ULL`;
      }
    }
  }
  const metrics = k.get("metrics")?.value;
  if (metrics !== undefined) {
    const v = stringValue(src, metrics, "metrics");
    if (!["off", "otlp", "prometheus", "both"].includes(v)) {
      throw src.error(metrics, `metrics must be one of off, otlp, prometheus, both (got ${JSON.stringify(v)})`);
    }
    cfg.metrics = v;
  }
  return cfg;
}

/** Reads and parses a config file. */
export function loadAgentConfig(path: string): FileConfig {
  return parseAgentConfig(path, readConfigText(path, "config"));
}
