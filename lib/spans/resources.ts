/**
 * Resources: who produced a span. Service name, host name, and the traced
 * process (pid, executable) where known, plus `OTEL_RESOURCE_ATTRIBUTES`.
 * One object per distinct resource, as exporters group by identity.
 * @module
 */
import {
  ATTR_SERVICE_NAME,
  ATTR_TELEMETRY_SDK_LANGUAGE,
  ATTR_TELEMETRY_SDK_NAME,
} from "@opentelemetry/semantic-conventions";
import {
  ATTR_HOST_NAME,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_EXECUTABLE_PATH,
  ATTR_PROCESS_PID,
} from "@opentelemetry/semantic-conventions/incubating";
import { ownString } from "../core/own_string.ts";
import type { Attributes, Resource } from "../core/span_data.ts";

/** Options of {@linkcode createResourceCache}. */
export interface ResourceOptions {
  /** `service.name`; when absent, derived from the traced executable, else "spanprobe". */
  serviceName?: string;
  /** Extra attributes (e.g. parsed OTEL_RESOURCE_ATTRIBUTES); explicit options win. */
  extra?: Attributes;
  /** Host name (default: Deno.hostname() when permitted). */
  hostName?: string;
  /** Reads facts about a process (tests inject; default reads /proc). */
  processInfo?: (
    pid: number,
  ) => { executableName?: string; executablePath?: string };
}

/** Facts about a traced process that the probe itself knows. */
export interface ProcessHints {
  executableName?: string;
  executablePath?: string;
}

/** Resources by traced pid. */
export interface ResourceCache {
  /**
   * The resource of spans from process `pid` (or of no known process). Hints
   * from the probe (its `comm` field, its `binary` parameter) win over /proc.
   */
  forPid(pid: number | undefined, hints?: ProcessHints): Resource;
}

/**
 * Reads /proc/PID/comm and /proc/PID/exe; fields stay absent where not
 * permitted or gone. Note: Deno refuses /proc/PID paths unless run with
 * --allow-all, so under the agent's permission set this finds nothing and
 * the probe's hints are what names the process.
 */
export function procInfo(
  pid: number,
): { executableName?: string; executablePath?: string } {
  const out: { executableName?: string; executablePath?: string } = {};
  try {
    out.executableName = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  } catch { /* exited, or not permitted */ }
  try {
    out.executablePath = Deno.readLinkSync(`/proc/${pid}/exe`);
  } catch { /* exited, or not permitted */ }
  return out;
}

function defaultHostName(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}

/** A cache of resources (bounded: at most 4096 pids remembered). */
export function createResourceCache(
  options: ResourceOptions = {},
): ResourceCache {
  const hostName = options.hostName ?? defaultHostName();
  const info = options.processInfo ?? procInfo;
  const byPid = new Map<number, Resource>();
  const base = (): Attributes => {
    const a: Attributes = { ...options.extra };
    if (hostName) a[ATTR_HOST_NAME] = hostName;
    a[ATTR_TELEMETRY_SDK_NAME] = "spanprobe";
    a[ATTR_TELEMETRY_SDK_LANGUAGE] = "ebpf";
    return a;
  };
  const anonymous: Resource = {
    attributes: {
      ...base(),
      [ATTR_SERVICE_NAME]: options.serviceName ??
        String(options.extra?.[ATTR_SERVICE_NAME] ?? "spanprobe"),
    },
  };
  return {
    forPid(pid, hints) {
      if (pid === undefined || !Number.isSafeInteger(pid) || pid <= 0) {
        return anonymous;
      }
      let r = byPid.get(pid);
      if (r) return r;
      const fromProc = hints?.executableName && hints.executablePath ? {} : info(pid);
      // cached for long: own copies, not views into a batch of probe output
      const name = hints?.executableName ?? fromProc.executableName;
      const path = hints?.executablePath ?? fromProc.executablePath;
      const p = {
        executableName: name === undefined ? undefined : ownString(name),
        executablePath: path === undefined ? undefined : ownString(path),
      };
      const attributes = base();
      attributes[ATTR_SERVICE_NAME] = options.serviceName ??
        (options.extra?.[ATTR_SERVICE_NAME] as string | undefined) ??
        p.executableName ?? "spanprobe";
      attributes[ATTR_PROCESS_PID] = pid;
      if (p.executableName) {
        attributes[ATTR_PROCESS_EXECUTABLE_NAME] = p.executableName;
      }
      if (p.executablePath) {
        attributes[ATTR_PROCESS_EXECUTABLE_PATH] = p.executablePath;
      }
      r = { attributes };
      if (byPid.size >= 4096) byPid.delete(byPid.keys().next().value!);
      byPid.set(pid, r);
      return r;
    },
  };
}
