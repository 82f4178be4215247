/**
 * Builds CO-RE BPF objects from source: `clang -O2 -g -target bpf` against a
 * `vmlinux.h` generated once per kernel with `bpftool btf dump` from
 * /sys/kernel/btf/vmlinux. Objects are cached by what the compiler actually
 * read (every file of clang's dependency output, `-MD`), plus the compiler's
 * version, the flags and the kernel; written atomically so concurrent builds
 * are safe. The cache folder is the caller's (see cache_dir.ts).
 *
 * Lookup (like ccache's direct mode): a manifest keyed by source path,
 * compiler and flags lists the files the last build read; their current
 * contents give the object's name. An edit to any of them — a header beside
 * the probe included as `"local.h"` too — is a miss and a rebuild.
 * @module
 */
import { hexOf } from "../../core/hex.ts";
import { readSysFile, readSysText, sysPathExists } from "../../ffi/sysfs.ts";
import { UserError } from "../../core/errors.ts";

/** probes/include of this repository. */
export const PROBE_INCLUDE_DIR: string = new URL("../../../probes/include", import.meta.url).pathname;

/** Options of {@linkcode buildBpfObject}. */
export interface BuildOptions {
  /** Extra `-D` definitions, e.g. `{ SPANPROBE_WAKEUP_DIVISOR: "4" }`. */
  defines?: Record<string, string>;
  /** Extra include directories. */
  includeDirs?: string[];
  /** clang binary (default `clang`). */
  clang?: string;
  /** bpftool binary (default `bpftool`). */
  bpftool?: string;
}

const decoder = new TextDecoder();

/** A build tool (clang, bpftool) is not installed or may not be run: the object cannot be built here. */
export class BuildToolMissing extends UserError {
  /** The tool's name as called. */
  readonly tool: string;
  constructor(message: string, tool: string) {
    super(message, 2);
    this.name = "BuildToolMissing";
    this.tool = tool;
  }
}

async function run(cmd: string, args: string[], what: string, failureExit = 1): Promise<Uint8Array> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BuildToolMissing(
        `${what}: ${cmd} is not installed (apt-get install ${cmd === "bpftool" ? "bpftool" : "clang llvm"}), ` +
          "or put a prebuilt NAME.bpf.o beside NAME.yaml",
        cmd,
      );
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new BuildToolMissing(
        `${what}: not allowed to run ${cmd} here (the compiled binary loads prebuilt objects only): ` +
          "put a prebuilt NAME.bpf.o beside NAME.yaml (docs/ringbuf.md), or run from a checkout with clang",
        cmd,
      );
    }
    throw new UserError(`${what}: cannot run ${cmd}: ${(e as Error).message}`, 1);
  }
  if (!out.success) {
    const err = decoder.decode(out.stderr).trim().split("\n").slice(-30).join("\n");
    throw new UserError(`${what} failed (${cmd} exited ${out.code}):\n${err}`, failureExit);
  }
  return out.stdout;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new UserError(`cannot check ${path}: ${(e as Error).message}`, 1);
  }
}

async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}

/** The kernel release (`uname -r`). */
function kernelRelease(): string {
  try {
    return readSysText("/proc/sys/kernel/osrelease").trim();
  } catch {
    return "unknown";
  }
}

/**
 * `vmlinux.h` for the running kernel in `cacheDir/vmlinux-<release>/`,
 * generated on first use; returns its directory (for `-I`).
 */
export async function ensureVmlinuxH(cacheDir: string, bpftool = "bpftool"): Promise<string> {
  const dir = `${cacheDir}/vmlinux-${kernelRelease()}`;
  const header = `${dir}/vmlinux.h`;
  if (exists(header)) return dir;
  if (!sysPathExists("/sys/kernel/btf/vmlinux")) {
    throw new UserError("this kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE BPF programs cannot be built", 1);
  }
  await Deno.mkdir(dir, { recursive: true });
  const text = await run(
    bpftool,
    ["btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
    "generating vmlinux.h",
  );
  await writeAtomic(header, text);
  return dir;
}

async function sha256Hex(parts: (string | Uint8Array)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks = parts.map((p) => typeof p === "string" ? enc.encode(p) : p);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length + 1, 0));
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length + 1;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return hexOf(digest, 0, 8);
}

/** The distribution's multiarch include dir (for `asm/*.h` pulled in by libbpf's usdt.bpf.h). */
function multiarchIncludes(): string[] {
  const dir = `/usr/include/${Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"}-linux-gnu`;
  return sysPathExists(dir) ? ["-idirafter", dir] : [];
}

function targetArch(): string {
  return Deno.build.arch === "aarch64" ? "arm64" : "x86";
}

const compilerIds = new Map<string, Promise<string>>();

/** `clang --version` (cached per process): part of the cache key. */
function compilerId(clang: string): Promise<string> {
  let id = compilerIds.get(clang);
  if (!id) {
    id = run(clang, ["--version"], "asking clang for its version").then((out) => decoder.decode(out).trim());
    id.catch(() => compilerIds.delete(clang));
    compilerIds.set(clang, id);
  }
  return id;
}

/**
 * A file the compiler read. Deno's read permission covers the probe, its
 * include folders and the cache; system headers (libbpf's, clang's own) are
 * read through libc, which the ring-buffer source's FFI grant already allows.
 */
async function readDependency(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) throw e;
  }
  try {
    return readSysFile(path);
  } catch {
    return undefined;
  }
}

/** The files of a make-style dependency file (`obj: a.c b.h \\\n c.h`), absolute. */
export function parseDepFile(text: string, cwd: string): string[] {
  const body = text.replace(/\\\n/g, " ");
  const colon = body.search(/:(\s|$)/);
  const files = body.slice(colon + 1).split(/(?<!\\)\s+/).filter(Boolean).map((f) => f.replace(/\\ /g, " "));
  return [...new Set(files.map((f) => f.startsWith("/") ? f : `${cwd}/${f}`))];
}

/** The object name for these dependency contents, or undefined when one of them is gone. */
async function contentKey(keyBase: string, deps: string[]): Promise<string | undefined> {
  const parts: (string | Uint8Array)[] = [keyBase];
  for (const dep of deps) {
    const bytes = await readDependency(dep);
    if (!bytes) return undefined;
    parts.push(dep, bytes);
  }
  return await sha256Hex(parts);
}

/**
 * Builds `src` (a `.bpf.c` file) into `cacheDir`; returns the object's path.
 * Rebuilds only when a file the compiler read, the compiler, the flags or
 * the kernel change. Compile errors become a UserError (exit 2) quoting
 * clang (its file:line messages).
 */
export async function buildBpfObject(src: string, cacheDir: string, options: BuildOptions = {}): Promise<string> {
  const abs = src.startsWith("/") ? src : `${Deno.cwd()}/${src}`;
  try {
    await Deno.stat(abs);
  } catch (e) {
    throw new UserError(`cannot read BPF source ${src}: ${(e as Error).message}`, 2);
  }
  const clang = options.clang ?? "clang";
  const includeDirs = [PROBE_INCLUDE_DIR, ...(options.includeDirs ?? [])];
  const defines = Object.entries(options.defines ?? {}).sort().map(([k, v]) => `-D${k}=${v}`);
  try {
    await Deno.mkdir(cacheDir, { recursive: true });
  } catch (e) {
    throw new UserError(
      `BPF build cache ${cacheDir}: ${(e as Error).message} (choose another with --cache-dir or ringbuf.cache_dir)`,
      2,
    );
  }
  const vmlinuxDir = await ensureVmlinuxH(cacheDir, options.bpftool);
  const flags = [
    "-O2",
    "-g",
    "-target",
    "bpf",
    `-D__TARGET_ARCH_${targetArch()}`,
    ...defines,
    "-I",
    vmlinuxDir,
    ...includeDirs.flatMap((d) => ["-I", d]),
    ...multiarchIncludes(),
  ];
  const keyBase = await sha256Hex([abs, await compilerId(clang), flags.join("\0"), kernelRelease(), targetArch()]);
  const base = abs.slice(abs.lastIndexOf("/") + 1).replace(/\.bpf\.c$|\.c$/, "");
  const manifest = `${cacheDir}/${base}-${keyBase}.deps`;
  try {
    const deps = parseDepFile(await Deno.readTextFile(manifest), "/");
    const key = await contentKey(keyBase, deps);
    if (key && exists(`${cacheDir}/${base}-${key}.bpf.o`)) return `${cacheDir}/${base}-${key}.bpf.o`;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const tmp = `${cacheDir}/${base}-${keyBase}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    // a compile error is the probe's own (file:line from clang): a configuration error, exit 2
    await run(clang, [...flags, "-MD", "-MF", `${tmp}.d`, "-c", abs, "-o", `${tmp}.o`], `compiling ${src}`, 2);
    const deps = parseDepFile(await Deno.readTextFile(`${tmp}.d`), Deno.cwd());
    const key = await contentKey(keyBase, deps);
    if (!key) throw new UserError(`compiling ${src}: a file it read vanished during the build; run again`, 1);
    const out = `${cacheDir}/${base}-${key}.bpf.o`;
    await Deno.rename(`${tmp}.o`, out);
    await writeAtomic(
      manifest,
      new TextEncoder().encode(`${out}: ${deps.map((d) => d.replace(/ /g, "\\ ")).join(" ")}\n`),
    );
    return out;
  } finally {
    for (const f of [`${tmp}.o`, `${tmp}.d`]) {
      try {
        Deno.removeSync(f);
      } catch { /* renamed or never written */ }
    }
  }
}
