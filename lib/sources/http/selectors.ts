/**
 * Which processes the http probe traces: `--open-port` (OBI's
 * `OTEL_EBPF_OPEN_PORT` syntax: `80,443,8000-8999`), `--pid` and `--exe`
 * (a glob on the executable's path, like OBI's `OTEL_EBPF_AUTO_TARGET_EXE`).
 * Parsed and validated here; errors are UserErrors (exit 2) naming the flag
 * and value.
 * @module
 */
import { UserError } from "../../core/errors.ts";

/** Most ports selectable (the size of the BPF `http_ports` map). */
export const MAX_PORTS = 1024;

/** The processes to trace. */
export interface HttpSelectors {
  /** Processes accepting connections on these ports are traced (and their children). */
  ports: number[];
  /** These processes are traced (and their children). */
  pids: number[];
  /** Processes whose executable path matches one of these globs are traced, also ones started later. */
  exe?: string[];
}

function port(text: string, flag: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new UserError(`${flag} ${whole}: "${text}" is not a port (1-65535)`, 2);
  }
  return Number(text);
}

/** Parses port lists (each `80,443,8000-8999`); throws a UserError (exit 2) on a bad one. */
export function parsePorts(values: string[], flag = "--open-port"): number[] {
  const out = new Set<number>();
  for (const whole of values) {
    for (const raw of whole.split(",")) {
      const part = raw.trim();
      if (!part) throw new UserError(`${flag} ${whole}: empty entry (expected e.g. 80,443,8000-8999)`, 2);
      const dash = part.indexOf("-");
      if (dash < 0) {
        out.add(port(part, flag, whole));
        continue;
      }
      const lo = port(part.slice(0, dash), flag, whole);
      const hi = port(part.slice(dash + 1), flag, whole);
      if (hi < lo) throw new UserError(`${flag} ${whole}: range ${part} is empty`, 2);
      if (hi - lo + 1 + out.size > MAX_PORTS) {
        throw new UserError(`${flag} ${whole}: more than ${MAX_PORTS} ports selected`, 2);
      }
      for (let p = lo; p <= hi; p++) out.add(p);
    }
  }
  if (out.size > MAX_PORTS) throw new UserError(`${flag}: more than ${MAX_PORTS} ports selected`, 2);
  return [...out].sort((a, b) => a - b);
}

/** Parses a process id; throws a UserError (exit 2). */
export function parsePidSelector(text: string, flag = "--pid"): number {
  if (!/^[1-9]\d{0,9}$/.test(text) || Number(text) > 4194304) {
    throw new UserError(`${flag} ${text}: expected a process id`, 2);
  }
  return Number(text);
}

/**
 * A glob on an executable path as a RegExp: `*` matches any run of
 * characters (`/` included: `*python3*` matches `/usr/bin/python3.11`), `?`
 * one character; the whole path must match. Throws a UserError (exit 2) on
 * an empty or non-absolute-looking pattern.
 */
export function exeGlob(pattern: string, flag = "--exe"): RegExp {
  if (!pattern || pattern.length > 4096 || /[\0\n]/.test(pattern)) {
    throw new UserError(
      `${flag} ${JSON.stringify(pattern)}: expected a glob on an executable path, e.g. '*/python3*'`,
      2,
    );
  }
  if (!pattern.startsWith("/") && !pattern.startsWith("*")) {
    throw new UserError(`${flag} ${pattern}: an executable path glob starts with / or * (e.g. '*/${pattern}')`, 2);
  }
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`);
}
