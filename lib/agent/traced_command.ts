/**
 * `--command CMD` for probes whose source cannot start it itself (ring-buffer
 * probes; bpftrace starts it with `-c`): split the text the way bpftrace
 * does (on spaces, no quoting), start it once every probe is attached with
 * the environment bpftrace would give it (no secrets), and report when it
 * ends.
 * @module
 */
import { UserError } from "../core/errors.ts";
import { passedOnEnv } from "../sources/bpftrace/process.ts";
import type { Logger } from "../telemetry/log.ts";

/** `--command` text as argv: split on whitespace like bpftrace's `-c` (no quotes, no shell). */
export function commandArgv(text: string): string[] {
  const argv = text.trim().split(/\s+/).filter(Boolean);
  if (argv.length === 0) throw new UserError("--command is empty: expected a program and its arguments", 2);
  if (/["'`$;|&<>\\]/.test(text)) {
    throw new UserError(
      `--command ${JSON.stringify(text)}: no shell runs it (split on spaces, like bpftrace -c), ` +
        "so quotes, $, ;, |, &, <, > and \\ cannot work; wrap the command in a script",
      2,
    );
  }
  return argv;
}

/** A started `--command`. */
export interface TracedCommand {
  readonly pid: number;
  /** Settles with the exit status when the command ends. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Sends `signal` (default SIGTERM) if it still runs. */
  kill(signal?: Deno.Signal): void;
}

/**
 * Starts `text` (stdin closed, stdout and stderr shared with the agent).
 * Throws UserError (exit 2) when the program is missing or not permitted.
 */
export function startTracedCommand(text: string, logger: Logger): TracedCommand {
  const [program, ...args] = commandArgv(text);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
      // what it would get from bpftrace -c: bpftrace's own short list, never the agent's secrets
      clearEnv: true,
      env: passedOnEnv(),
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(`--command: ${program} not found (give a path, or a program on PATH)`, 2);
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new UserError(
        `--command: not allowed to start ${program} (this run may start only: bpftrace, clang, bpftool; ` +
          "deno task start grants the command's program, a compiled binary cannot: trace it by --pid or --binary)",
        2,
      );
    }
    throw new UserError(`--command: cannot start ${program}: ${(e as Error).message}`, 2);
  }
  logger.info("command started", { command: program, pid: child.pid });
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    logger.info("command exited", { command: program, pid: child.pid, code: s.code, signal: s.signal ?? undefined });
    return s;
  });
  return {
    pid: child.pid,
    status,
    kill(signal = "SIGTERM") {
      if (exited) return;
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
  };
}
