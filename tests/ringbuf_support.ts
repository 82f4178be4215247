/**
 * Helpers for the ring-buffer tests: root check, building probes into
 * .cache, and listing live BPF links and programs with bpftool.
 * @module
 */
import { fileURLToPath } from "node:url";
import { buildBpfObject } from "../lib/sources/ringbuf/build.ts";
import { announceSkip, FORCE_SKIP_ENV } from "./support/ebpf.ts";

/** The repository root (with a trailing slash). */
export const ROOT: string = fileURLToPath(new URL("../", import.meta.url));
/** Where built objects go. */
export const BPF_CACHE: string = `${ROOT}.cache/bpf`;

/** Why ring-buffer BPF tests cannot run here, or undefined. */
export function rbSkipReason(): string | undefined {
  const forced = Deno.env.get(FORCE_SKIP_ENV);
  if (forced) return forced;
  if (Deno.uid() !== 0) return "not root: ring-buffer BPF tests load BPF programs and need root (CI runs as root)";
  try {
    Deno.statSync("/sys/kernel/btf/vmlinux");
  } catch {
    return "kernel has no BTF (/sys/kernel/btf/vmlinux)";
  }
  return undefined;
}

/** Prints the skip reason once and returns whether to skip (in CI a skip fails: see `announceSkip`). */
export function skipUnlessRoot(file: string): boolean {
  return announceSkip(file, rbSkipReason());
}

/** Builds probes/NAME.bpf.c into the cache; returns the object path. */
export function buildProbe(name: string): Promise<string> {
  return buildBpfObject(`${ROOT}probes/${name}.bpf.c`, BPF_CACHE);
}

/** bpftool's JSON output; retried, since listing races with other processes loading and unloading programs. */
async function bpftoolJson(args: string[]): Promise<Record<string, unknown>[]> {
  let last = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const out = await new Deno.Command("bpftool", { args: ["-j", ...args], stdout: "piped", stderr: "piped" }).output();
    if (out.success) {
      try {
        return JSON.parse(new TextDecoder().decode(out.stdout) || "[]");
      } catch (e) {
        last = (e as Error).message;
      }
    } else {
      last = new TextDecoder().decode(out.stderr);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`bpftool ${args.join(" ")}: ${last}`);
}

/** The BPF program and link ids whose file descriptors process `pid` holds (read from /proc/PID/fdinfo). */
export function bpfIdsHeldBy(pid: number): { progIds: Set<number>; linkIds: Set<number> } {
  const progIds = new Set<number>();
  const linkIds = new Set<number>();
  let fds: Deno.DirEntry[];
  try {
    fds = [...Deno.readDirSync(`/proc/${pid}/fd`)];
  } catch {
    return { progIds, linkIds }; // the process is gone: it holds nothing
  }
  for (const fd of fds) {
    let target: string, info: string;
    try {
      target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
      info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd.name}`);
    } catch {
      continue; // closed meanwhile
    }
    const field = (name: string) => {
      const m = new RegExp(`^${name}:\\s+(\\d+)$`, "m").exec(info);
      return m ? Number(m[1]) : undefined;
    };
    if (target === "anon_inode:bpf_link") {
      const link = field("link_id");
      if (link !== undefined) linkIds.add(link);
      const prog = field("prog_id");
      if (prog !== undefined) progIds.add(prog);
    } else if (target === "anon_inode:bpf-prog") {
      const prog = field("prog_id");
      if (prog !== undefined) progIds.add(prog);
    }
  }
  return { progIds, linkIds };
}

/** Ids and names of every loaded BPF program (names are cut to 15 characters by the kernel). */
export async function loadedPrograms(): Promise<Map<number, string>> {
  return new Map((await bpftoolJson(["prog", "show"])).map((p) => [p.id as number, String(p.name ?? "")]));
}

/** Ids of every live BPF link. */
export async function liveLinkIds(): Promise<Set<number>> {
  return new Set((await bpftoolJson(["link", "show"])).map((l) => l.id as number));
}

/**
 * How many live BPF links of process `pid` (this test process by default)
 * run a program called one of `names`. Only that process's own links count:
 * other programs on the machine (parallel test runs) may have the same names.
 */
export async function countLinks(names: string[], pid: number = Deno.pid): Promise<number> {
  const want = new Set(names.map((n) => n.slice(0, 15)));
  const { linkIds } = bpfIdsHeldBy(pid);
  if (linkIds.size === 0) return 0;
  const progs = await loadedPrograms();
  return (await bpftoolJson(["link", "show"]))
    .filter((l) => linkIds.has(l.id as number) && want.has(progs.get(l.prog_id as number) ?? "")).length;
}

/**
 * How many loaded BPF programs called one of `names` process `pid` (this
 * test process by default) holds, directly or through a link. Only that
 * process's own programs count (see {@linkcode countLinks}).
 */
export async function countPrograms(names: string[], pid: number = Deno.pid): Promise<number> {
  const want = new Set(names.map((n) => n.slice(0, 15)));
  const { progIds } = bpfIdsHeldBy(pid);
  if (progIds.size === 0) return 0;
  const progs = await loadedPrograms();
  return [...progIds].filter((id) => want.has(progs.get(id) ?? "")).length;
}

/** Writes `text` to a fresh temp file with `suffix`; returns its path. */
export function tempFile(text: string | Uint8Array, suffix = ".yaml"): string {
  const path = Deno.makeTempFileSync({ prefix: "rb_test_", suffix });
  if (typeof text === "string") Deno.writeTextFileSync(path, text);
  else Deno.writeFileSync(path, text);
  return path;
}
