/**
 * The agent's logger: one line per record on stderr, human-readable by
 * default or JSON (`--log-format json`). Spans never go here.
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Output formats. */
export type LogFormat = "human" | "json";

/** Extra structured fields of a record. */
export type LogFields = Record<string, unknown>;

/** A logger. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /**
   * Like {@linkcode Logger.warn}, but at most once per `intervalMs` per `key`;
   * the number of suppressed records is reported on the next one.
   */
  warnLimited(key: string, msg: string, fields?: LogFields): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  format?: LogFormat;
  level?: LogLevel;
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
  /** Rate limit window of `warnLimited`, 5 s by default. */
  intervalMs?: number;
  /**
   * Applied to the message and to every string (and error message) in the
   * fields before a record is written: keeps secrets out of the log (see
   * telemetry/redact.ts).
   */
  redact?: (text: string) => string;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const encoder = new TextEncoder();

function stderrWrite(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return value.message;
  return value;
}

function humanValue(v: unknown): string {
  if (typeof v === "string") return /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "bigint") return v.toString(); // like a number, not a quoted string
  return JSON.stringify(v, jsonSafe) ?? String(v);
}

function redactValue(v: unknown, redact: (text: string) => string, depth: number): unknown {
  if (typeof v === "string") return redact(v);
  if (v instanceof Error) return redact(v.message);
  if (depth > 3 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => redactValue(x, redact, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactValue(x, redact, depth + 1);
  return out;
}

/** A logger writing to stderr (or `options.write`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? "human";
  const min = RANK[options.level ?? "info"];
  const write = options.write ?? stderrWrite;
  const intervalMs = options.intervalMs ?? 5000;
  const limited = new Map<string, { last: number; suppressed: number }>();

  const redact = options.redact;

  function log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (RANK[level] < min) return;
    if (redact) {
      msg = redact(msg);
      if (fields) fields = redactValue(fields, redact, 0) as LogFields;
    }
    const time = new Date().toISOString();
    if (format === "json") {
      write(JSON.stringify({ time, level, msg, ...fields }, jsonSafe));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
    for (const [k, v] of Object.entries(fields ?? {})) {
      if (v !== undefined) line += ` ${k}=${humanValue(v)}`;
    }
    write(line);
  }

  return {
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
    warnLimited(key, msg, fields) {
      const now = Date.now();
      const state = limited.get(key);
      if (state && now - state.last < intervalMs) {
        state.suppressed++;
        return;
      }
      const suppressed = state?.suppressed ?? 0;
      limited.set(key, { last: now, suppressed: 0 });
      log("warn", msg, suppressed ? { ...fields, suppressed } : fields);
    },
  };
}

/** A logger that drops everything (for tests and benchmarks). */
export const silentLogger: Logger = createLogger({ write: () => {} });
