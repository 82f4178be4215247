/**
 * Builds CO-RE BPF objects from source: `clang -O2 -g -target bpf` against a
 * `vmlinux.h` generated once per kernel with `bpftool btf dump` from
 * /sys/kernel/btf/vmlinux. Objects are cached by content hash (source,
 * headers it includes from probes/include, flags, kernel), written
 * atomically so concurrent builds are safe.
 * @module
 */
import { hexOf } from "../../core/hex.ts";
import { readSysText, sysPathExists } from "../../ffi/sysfs.ts";
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

async function run(cmd: string, args: string[], what: string): Promise<Uint8Array> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(
        `${what}: ${cmd} is not installed (apt-get install ${cmd === "bpftool" ? "bpftool" : "clang llvm"})`,
        1,
      );
    }
    throw new UserError(`${what}: cannot run ${cmd}: ${(e as Error).message}`, 1);
  }
  if (!out.success) {
    const err = decoder.decode(out.stderr).trim().split("\n").slice(-30).join("\n");
    throw new UserError(`${what} failed (${cmd} exited ${out.code}):\n${err}`, 1);
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

/**
 * Builds `src` (a `.bpf.c` file) into `cacheDir`; returns the object's path.
 * Rebuilds only when the source, the shared headers, flags or kernel change.
 * Compile errors become a UserError quoting clang.
 */
export async function buildBpfObject(src: string, cacheDir: string, options: BuildOptions = {}): Promise<string> {
  let source: Uint8Array;
  try {
    source = await Deno.readFile(src);
  } catch (e) {
    throw new UserError(`cannot read BPF source ${src}: ${(e as Error).message}`, 2);
  }
  const includeDirs = [PROBE_INCLUDE_DIR, ...(options.includeDirs ?? [])];
  const headers: Uint8Array[] = [];
  for (const dir of includeDirs) {
    try {
      for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
        if (e.isFile && e.name.endsWith(".h")) headers.push(await Deno.readFile(`${dir}/${e.name}`));
      }
    } catch { /* missing include dir: clang will say */ }
  }
  const defines = Object.entries(options.defines ?? {}).sort().map(([k, v]) => `-D${k}=${v}`);
  const vmlinuxDir = await ensureVmlinuxH(cacheDir, options.bpftool);
  const hash = await sha256Hex([source, ...headers, defines.join(" "), kernelRelease(), targetArch()]);
  const base = src.slice(src.lastIndexOf("/") + 1).replace(/\.bpf\.c$|\.c$/, "");
  const out = `${cacheDir}/${base}-${hash}.bpf.o`;
  if (exists(out)) return out;
  const tmp = `${out}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const args = [
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
    "-c",
    src,
    "-o",
    tmp,
  ];
  try {
    await run(options.clang ?? "clang", args, `compiling ${src}`);
    await Deno.rename(tmp, out);
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch { /* renamed or never written */ }
  }
  return out;
}
