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

/** Names of the programs of all live BPF links (names are cut to 15 characters by the kernel). */
export async function linkedProgramNames(): Promise<string[]> {
  const progs = new Map((await bpftoolJson(["prog", "show"])).map((p) => [p.id as number, String(p.name ?? "")]));
  return (await bpftoolJson(["link", "show"])).map((l) => progs.get(l.prog_id as number) ?? "?");
}

/** Names of all loaded BPF programs. */
export async function loadedProgramNames(): Promise<string[]> {
  return (await bpftoolJson(["prog", "show"])).map((p) => String(p.name ?? ""));
}

/** How many of `names` are among the live links' programs. */
export async function countLinks(names: string[]): Promise<number> {
  const want = new Set(names.map((n) => n.slice(0, 15)));
  return (await linkedProgramNames()).filter((n) => want.has(n)).length;
}

/** How many loaded programs are called one of `names`. */
export async function countPrograms(names: string[]): Promise<number> {
  const want = new Set(names.map((n) => n.slice(0, 15)));
  return (await loadedProgramNames()).filter((n) => want.has(n)).length;
}

/** Writes `text` to a fresh temp file with `suffix`; returns its path. */
export function tempFile(text: string | Uint8Array, suffix = ".yaml"): string {
  const path = Deno.makeTempFileSync({ prefix: "rb_test_", suffix });
  if (typeof text === "string") Deno.writeTextFileSync(path, text);
  else Deno.writeFileSync(path, text);
  return path;
}
