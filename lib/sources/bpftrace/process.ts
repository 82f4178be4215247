/**
 * Running bpftrace: spawn `bpftrace -f json` with `Deno.Command`, expose its
 * stdout, route its stderr into our logs, and tell when probes are really
 * attached.
 *
 * bpftrace prints `attached_probes` before attaching (and a signal sent right
 * after it is lost), so readiness comes from the line bpftrace writes to
 * stderr when `__BPFTRACE_NOTIFY_PROBES_ATTACHED` is set.
 * @module
 */
import type { Logger } from "../../telemetry/log.ts";
import { UserError } from "../../core/errors.ts";
import { explainAttachFailure } from "./failure.ts";

/** Options of {@linkcode spawnBpftrace}. */
export interface BpftraceOptions {
  /** The bpftrace executable (default `bpftrace` on PATH). */
  bpftrace?: string;
  /** The prepared program text (passed with `-e`: no temporary file). */
  program: string;
  /** A name for logs. */
  name: string;
  /** Trace this process (`-p`). */
  pid?: number;
  /** Let bpftrace start this command once probes are attached (`-c`). */
  command?: string;
  /** Extra environment (e.g. BPFTRACE_STRLEN). */
  env?: Record<string, string>;
  /** The script's file, shown in place of `stdin` in bpftrace's error positions. */
  scriptPath?: string;
  /** Output buffer pages per CPU (default: `BPFTRACE_PERF_RB_PAGES`, else {@linkcode DEFAULT_PERF_RB_PAGES}). */
  perfPages?: number;
  logger: Logger;
}

/** A running bpftrace. */
export interface BpftraceProcess {
  readonly pid: number;
  /** Its NDJSON output. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Resolves once probes are attached; rejects (UserError) if bpftrace exits first. */
  readonly attached: Promise<void>;
  /** Its exit status. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** The last lines it wrote to stderr (for error messages). */
  stderrTail(): string[];
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000). Resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The environment bpftrace is given (when set): its own tuning variables and
 * what a process needs to run a `--command`; nothing else of the agent's
 * environment (no `OTEL_EXPORTER_OTLP_HEADERS`) reaches it.
 */
export const BPFTRACE_ENV_VARS: readonly string[] = [
  "PATH",
  "LANG",
  "LC_ALL",
  "TZ",
  "BPFTRACE_PERF_RB_PAGES",
  "BPFTRACE_STRLEN",
  "BPFTRACE_MAP_KEYS_MAX",
  "BPFTRACE_CAT_BYTES_MAX",
  "BPFTRACE_MAX_PROBES",
  "BPFTRACE_MAX_BPF_PROGS",
  "BPFTRACE_LOG_SIZE",
  "BPFTRACE_NO_USER_SYMBOLS",
  "BPFTRACE_CACHE_USER_SYMBOLS",
  "BPFTRACE_NO_CPP_DEMANGLE",
  "BPFTRACE_VMLINUX",
  "BPFTRACE_BTF",
];

const NOTIFY = "__BPFTRACE_NOTIFY_PROBES_ATTACHED";

/**
 * bpftrace's per-CPU output buffer, in pages: bpftrace's default (64) loses
 * events when its reader is briefly starved of CPU; the agent uses 1024
 * (4 MiB per CPU) unless BPFTRACE_PERF_RB_PAGES is set.
 */
export const DEFAULT_PERF_RB_PAGES = "1024";

/** bpftrace's own default output buffer (pages per CPU): the least the agent falls back to. */
export const MIN_PERF_RB_PAGES = 64;

/** The user's `BPFTRACE_PERF_RB_PAGES`, if set (it is then never changed by the agent). */
export function userPerfPages(): string | undefined {
  try {
    return Deno.env.get("BPFTRACE_PERF_RB_PAGES");
  } catch {
    return undefined; // not permitted to read it: the default
  }
}

function perfPages(): string {
  return userPerfPages() ?? DEFAULT_PERF_RB_PAGES;
}

/**
 * Whether bpftrace failed because the kernel refused to map its per-CPU
 * output buffers: without CAP_IPC_LOCK they count against RLIMIT_MEMLOCK
 * (shared by every process of the user), so a large buffer on a machine with
 * many CPUs, or beside other tracers, is refused with EPERM.
 */
export function perfBufferRefused(stderrTail: readonly string[]): boolean {
  return stderrTail.some((l) => /Failed to open perf buffer/.test(l)) &&
    stderrTail.some((l) => /mmap: Operation not permitted/.test(l));
}
const HARMLESS = /couldn't set RLIMIT_MEMLOCK/;
/**
 * A message located in the script (`stdin:1:21-32: ERROR: ...`). bpftrace
 * follows it with the script line and a `~~~` marker; those are never logged,
 * so a script's text (or whatever a link made bpftrace read) is not echoed:
 * only bpftrace's own line/column message is.
 */
const LOCATED = /^stdin:\d+[\d:-]*: /;
const CARET = /^\s*~+\s*$/;
/** Lines that are bpftrace's own messages (they end the quoted-source part). */
const MESSAGE = /^(stdin:\d+[\d:-]*: |(ERROR|WARNING|HINT|NOTE|Attaching)\b)/;

/**
 * The {@linkcode BPFTRACE_ENV_VARS} that are set (and readable), nothing else
 * of the agent's environment: what bpftrace and a traced `--command` inherit.
 */
export function passedOnEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of BPFTRACE_ENV_VARS) {
    try {
      const v = Deno.env.get(name);
      if (v !== undefined) env[name] = v;
    } catch { /* not permitted: not passed */ }
  }
  return env;
}

/**
 * bpftrace's whole environment: the {@linkcode passedOnEnv} variables,
 * nothing else of the agent's (secrets such as `OTEL_EXPORTER_OTLP_HEADERS`
 * never reach it).
 */
export function bpftraceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...passedOnEnv(), BPFTRACE_PERF_RB_PAGES: perfPages(), ...extra, [NOTIFY]: "1" };
}

/** The arguments bpftrace is started with. */
export function bpftraceArgs(
  o: Pick<BpftraceOptions, "program" | "pid" | "command">,
): string[] {
  const args = ["-f", "json", "-B", "line"];
  if (o.pid !== undefined) args.push("-p", String(o.pid));
  if (o.command !== undefined) args.push("-c", o.command);
  args.push("-e", o.program);
  return args;
}

/** Starts bpftrace. Throws UserError when it cannot be started at all. */
export function spawnBpftrace(o: BpftraceOptions): BpftraceProcess {
  const bin = o.bpftrace ?? "bpftrace";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(bin, {
      args: bpftraceArgs(o),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: bpftraceEnv({ ...o.env, ...(o.perfPages ? { BPFTRACE_PERF_RB_PAGES: String(o.perfPages) } : {}) }),
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(
        o.bpftrace === undefined
          ? `cannot start ${bin}: not found; install bpftrace (apt-get install bpftrace) or pass --bpftrace PATH`
          : `cannot start ${bin} (--bpftrace, or bpftrace: in the config): not found; give a bpftrace executable`,
        1,
      );
    }
    if (
      e instanceof Deno.errors.NotCapable ||
      e instanceof Deno.errors.PermissionDenied
    ) {
      throw new UserError(
        `not allowed to start ${bin}: ${(e as Error).message}`,
        1,
      );
    }
    throw e;
  }
  const tail: string[] = [];
  let echo = false; // after a located error: skip the quoted script line
  let attachedResolve!: () => void;
  let attachedReject!: (e: Error) => void;
  let isAttached = false;
  const attached = new Promise<void>((res, rej) => {
    attachedResolve = res;
    attachedReject = rej;
  });
  attached.catch(() => {});

  const stderrDone = (async () => {
    const decoder = new TextDecoder();
    let carry = "";
    for await (const chunk of child.stderr) {
      const text = carry + decoder.decode(chunk, { stream: true });
      const lines = text.split("\n");
      carry = lines.pop()!;
      for (const line of lines) handleStderr(line);
    }
    if (carry) handleStderr(carry);
  })();

  function handleStderr(raw: string): void {
    // bpftrace may glue the notify marker to a previous message
    let line = raw;
    if (line.includes(NOTIFY)) {
      line = line.replace(NOTIFY, "");
      if (!isAttached) {
        isAttached = true;
        // it attached after all: what it said on the way was a warning, logged now
        for (const said of tail) o.logger.warn("bpftrace: " + said, { probe: o.name });
        o.logger.info("probes attached", {
          probe: o.name,
          bpftrace_pid: child.pid,
        });
        attachedResolve();
      }
    }
    if (echo) {
      // the script line bpftrace quotes under a located error, then its ~~~ marker
      if (CARET.test(line)) {
        echo = false;
        return;
      }
      if (!MESSAGE.test(line.trim())) return;
      echo = false;
    }
    line = line.trim();
    if (!line) return;
    if (LOCATED.test(line)) echo = true;
    if (HARMLESS.test(line)) {
      o.logger.debug("bpftrace: " + line, { probe: o.name });
      return;
    }
    if (o.scriptPath) line = line.replace(/^stdin:/, `${o.scriptPath}:`);
    tail.push(line);
    if (tail.length > 20) tail.shift();
    // before attaching, what bpftrace says ends up in the error (printed once, there)
    if (isAttached) o.logger.warn("bpftrace: " + line, { probe: o.name });
    else o.logger.debug("bpftrace: " + line, { probe: o.name });
  }

  const exited = child.status.then(async (status) => {
    await stderrDone.catch(() => {});
    if (!isAttached) {
      const explained = status.signal
        ? undefined
        : await explainAttachFailure({ program: o.program, pid: o.pid, stderr: tail });
      if (explained) {
        attachedReject(new UserError(`probe ${o.name}: ${explained}`, 1));
        return status;
      }
      const why = status.signal
        ? `bpftrace was killed (${status.signal}) before its probes were attached`
        : status.code === 1
        ? "the script did not compile"
        : `its probes could not be attached (bpftrace exit code ${status.code})`;
      attachedReject(
        new UserError(
          `probe ${o.name}: ${why}:\n  ${tail.join("\n  ") || "(no output)"}`,
          1,
        ),
      );
    }
    return status;
  });

  return {
    pid: child.pid,
    stdout: child.stdout,
    attached,
    exited,
    stderrTail: () => [...tail],
    async stop(graceMs = 3000) {
      try {
        child.kill("SIGTERM");
      } catch {
        return void await exited; // already gone
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
