/**
 * bpftrace's own parse and semantic check of a prepared script, without
 * attaching anything (`bpftrace -d`, 0.17's dry run: it parses, analyses and
 * generates code, then stops). Errors come back with the script's path in
 * place of bpftrace's `stdin`.
 * @module
 */
import { bpftraceEnv } from "./process.ts";

/** What a dry run found. */
export type DryRunResult =
  /** bpftrace accepted the script (`partial`: it stopped at a stand-in value after parsing and analysis). */
  | { kind: "ok"; partial?: boolean }
  /** bpftrace rejected it: each error as `PATH:LINE:COL: message`. */
  | { kind: "errors"; errors: string[] }
  /** The check could not run (no bpftrace, not permitted, another failure); why. */
  | { kind: "unavailable"; why: string };

/** Options of {@linkcode bpftraceDryRun}. */
export interface DryRunOptions {
  /** The prepared program. */
  program: string;
  /** Shown in place of `stdin` in bpftrace's error positions. */
  scriptPath: string;
  /** The bpftrace executable; `bpftrace` on PATH by default. */
  bpftrace?: string;
  /** Errors whose text contains one of these are not the script's fault (stand-in parameter values); ignored. */
  ignoreMentions?: string[];
}

const POSITION = /^stdin:(\d+):(\d+)(?:-\d+)?: ERROR: (.*)$/;

/** Runs `bpftrace -d` on `o.program`. Never throws. */
export async function bpftraceDryRun(o: DryRunOptions): Promise<DryRunResult> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(o.bpftrace ?? "bpftrace", {
      args: ["-d", "-e", o.program],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      clearEnv: true,
      env: bpftraceEnv(),
    }).output();
  } catch (e) {
    return { kind: "unavailable", why: (e as Error).message };
  }
  if (out.success) return { kind: "ok" };
  const lines = new TextDecoder().decode(out.stderr).split("\n");
  const standIn = (l: string) => o.ignoreMentions?.some((s) => l.includes(s)) ?? false;
  const errors: string[] = [];
  let positioned = false;
  for (let i = 0; i < lines.length; i++) {
    const m = POSITION.exec(lines[i]);
    if (!m) continue;
    positioned = true;
    const [, line, col, message] = m;
    if (standIn(message)) continue;
    // the script line bpftrace quotes under it is not repeated: no script text is echoed (see process.ts)
    errors.push(`${o.scriptPath}:${line}:${col}: ${message}`);
  }
  if (errors.length) return { kind: "errors", errors };
  const other = lines.map((l) => l.trim()).filter((l) => l && !/RLIMIT_MEMLOCK|available_filter_functions/.test(l));
  // only stand-in values were rejected (positioned errors, or e.g. a USDT probe's arguments in a stand-in binary)
  const onlyStandIns = other.some(standIn) && other.filter((l) => /ERROR/.test(l)).every(standIn);
  if (positioned || onlyStandIns) return { kind: "ok", partial: true };
  const why = other.at(-1);
  return { kind: "unavailable", why: `bpftrace exited with code ${out.code}${why ? `: ${why}` : ""}` };
}
