/**
 * Saying what is wrong when bpftrace could not attach, where its own words
 * mislead: a `--pid` that names no process (bpftrace: "No such process",
 * exit 1, which reads like a compile error) and a USDT probe the binary
 * does not have (bpftrace: "couldn't get argument 0 for …" or "No probes
 * to attach"), answered with the probes the binary does have.
 * @module
 */
import { readUsdtProbes } from "./usdt_notes.ts";

/** What an attach failure is checked against. */
export interface AttachFailure {
  /** The program bpftrace was given. */
  program: string;
  /** The `-p` target, if any. */
  pid?: number;
  /** bpftrace's last stderr lines. */
  stderr: string[];
}

const USDT_ATTACH = /\busdt:([^:\s,{]+):([A-Za-z_]\w*):([A-Za-z_]\w*)/g;

/** A plain explanation of `f`, or `undefined` when bpftrace's own message is the best there is. */
export async function explainAttachFailure(f: AttachFailure): Promise<string | undefined> {
  if (f.pid !== undefined && f.stderr.some((l) => /No such process/.test(l))) {
    return `no process with pid ${f.pid} (--pid): it does not exist or has exited`;
  }
  const wanted = new Map<string, Set<string>>();
  for (const [, binary, provider, name] of f.program.matchAll(USDT_ATTACH)) {
    if (!wanted.has(binary)) wanted.set(binary, new Set());
    wanted.get(binary)!.add(`${provider}:${name}`);
  }
  for (const [binary, probes] of wanted) {
    let has: string[];
    try {
      has = (await readUsdtProbes(binary)).map((p) => `${p.provider}:${p.name}`).sort();
    } catch {
      continue; // unreadable or not ELF: bpftrace's message stands
    }
    const missing = [...probes].filter((p) => !has.includes(p));
    if (missing.length === 0) continue;
    const list = has.length ? `it has: ${has.join(", ")}` : "it has no USDT probes at all (no .note.stapsdt section)";
    const what = missing.length === 1 ? `USDT probe ${missing[0]}` : `USDT probes ${missing.join(", ")}`;
    return `the binary ${binary} has no ${what}; ${list} (check the binary and the provider the script uses)`;
  }
  return undefined;
}
