/**
 * The resource of a traced process, read from /proc through libc (Deno
 * refuses /proc reads without --allow-all): `service.name` from
 * `OTEL_SERVICE_NAME` (else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`) in
 * the *target's* environment, else its script name when it is an
 * interpreter (`python3 app.py` → `app`), else its executable name. Only
 * those two variables are looked at; nothing else of the environment is
 * kept or logged.
 * @module
 */
import { readSysFile, readSysLink } from "../../ffi/sysfs.ts";
import type { Attributes, Resource } from "../../core/span_data.ts";

/** What is known about a process. */
export interface ProcessFacts {
  executablePath?: string;
  executableName?: string;
  /** argv (NUL-separated in /proc/PID/cmdline). */
  argv?: string[];
  /** From the target's environment. */
  envServiceName?: string;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();
const INTERPRETER = /^(python[\d.]*|pypy[\d.]*|node(js)?|ruby[\d.]*|perl[\d.]*|php[\d.]*|bun|deno)$/;
/** Interpreter options whose value is the next argument. */
const OPTION_WITH_VALUE = new Set(["-W", "-X", "-r", "--require", "-I", "--import", "--loader", "-e", "-c"]);

function nulSplit(bytes: Uint8Array): string[] {
  const parts = utf8.decode(bytes).split("\0");
  if (parts.length && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** The service name an environment block gives (OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES service.name). */
export function serviceNameFromEnviron(environ: Uint8Array): string | undefined {
  let fromAttrs: string | undefined;
  // environ is NUL-separated KEY=VALUE; only two keys are looked at, nothing else is decoded
  let start = 0;
  for (let i = 0; i <= environ.length; i++) {
    if (i < environ.length && environ[i] !== 0) continue;
    const entry = environ.subarray(start, i);
    start = i + 1;
    if (entry[0] !== 79 /* O */) continue;
    const text = latin1.decode(entry.subarray(0, 26));
    if (text.startsWith("OTEL_SERVICE_NAME=")) {
      const v = utf8.decode(entry.subarray(18)).trim();
      if (v) return v;
    } else if (text.startsWith("OTEL_RESOURCE_ATTRIBUTES=")) {
      for (const pair of utf8.decode(entry.subarray(25)).split(",")) {
        const eq = pair.indexOf("=");
        if (eq > 0 && pair.slice(0, eq).trim() === "service.name") {
          try {
            fromAttrs = decodeURIComponent(pair.slice(eq + 1).trim()) || undefined;
          } catch { /* malformed: ignored */ }
        }
      }
    }
  }
  return fromAttrs;
}

/** The script an interpreter runs (`python3 -u app.py` → `app`, `python3 -m flask` → `flask`), if any. */
export function scriptNameOf(argv: string[]): string | undefined {
  if (argv.length < 2) return undefined;
  const exe = argv[0].slice(argv[0].lastIndexOf("/") + 1);
  if (!INTERPRETER.test(exe)) return undefined;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-m" && i + 1 < argv.length) return argv[i + 1];
    if (a === "-c" || a === "-e") return undefined;
    if (OPTION_WITH_VALUE.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    const base = a.slice(a.lastIndexOf("/") + 1).replace(/\.(py|pyc|js|mjs|cjs|ts|rb|pl|php)$/, "");
    return base || undefined;
  }
  return undefined;
}

/** Reads what /proc tells about `pid`; fields stay absent when the process is gone or unreadable. */
export function readProcessFacts(pid: number): ProcessFacts {
  const out: ProcessFacts = {};
  try {
    out.executablePath = readSysLink(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
    out.executableName = out.executablePath.slice(out.executablePath.lastIndexOf("/") + 1);
  } catch { /* gone or not permitted */ }
  try {
    out.argv = nulSplit(readSysFile(`/proc/${pid}/cmdline`));
  } catch { /* gone */ }
  try {
    out.envServiceName = serviceNameFromEnviron(readSysFile(`/proc/${pid}/environ`));
  } catch { /* gone or not permitted */ }
  if (!out.executableName && out.argv?.length) {
    out.executableName = out.argv[0].slice(out.argv[0].lastIndexOf("/") + 1);
  }
  return out;
}

/** The `service.name` for a process's facts. */
export function serviceNameOf(facts: ProcessFacts, pid: number): string {
  return facts.envServiceName ?? (facts.argv && scriptNameOf(facts.argv)) ?? facts.executableName ??
    `unknown_service:pid-${pid}`;
}

/** Options of {@linkcode createProcessResources}. */
export interface ProcessResourceOptions {
  /** Extra attributes (the agent's OTEL_RESOURCE_ATTRIBUTES); the process's own facts win. */
  extra?: Attributes;
  hostName?: string;
  /** Add `process.command_line` (off by default: command lines may hold secrets). */
  commandLine?: boolean;
  /** Reads facts (tests inject; default /proc through libc). */
  read?: (pid: number) => ProcessFacts;
  /** Most processes remembered (default 4096). */
  max?: number;
}

/** Resources per process. */
export interface ProcessResources {
  /** The resource of `pid`, read on first use and cached (read early, while the process lives). */
  forPid(pid: number): Resource;
}

function defaultHostName(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/** A bounded cache of process resources. */
export function createProcessResources(o: ProcessResourceOptions = {}): ProcessResources {
  const read = o.read ?? readProcessFacts;
  const hostName = o.hostName ?? defaultHostName();
  const max = o.max ?? 4096;
  const cache = new Map<number, Resource>();
  return {
    forPid(pid) {
      let r = cache.get(pid);
      if (r) return r;
      const facts = read(pid);
      const a: Attributes = { ...o.extra };
      delete a["service.name"];
      a["service.name"] = serviceNameOf(facts, pid);
      a["process.pid"] = pid;
      if (facts.executableName) a["process.executable.name"] = facts.executableName;
      if (facts.executablePath) a["process.executable.path"] = facts.executablePath;
      if (o.commandLine && facts.argv) a["process.command_line"] = facts.argv.join(" ");
      if (hostName) a["host.name"] = hostName;
      a["telemetry.sdk.name"] = "spanprobe";
      a["telemetry.sdk.language"] = "ebpf";
      r = { attributes: a };
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(pid, r);
      return r;
    },
  };
}
