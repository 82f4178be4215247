/**
 * Test support for eBPF tests: why a test must skip (not root, no bpftrace,
 * no tracefs) and building the C targets the tests trace.
 * @module
 */
import { fileURLToPath } from "node:url";
import { permissionFlags } from "../../lib/permissions.ts";
import { permissionsForCommand } from "../../scripts/launch.ts";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
/** Where tests build their artifacts (gitignored). */
export const CACHE_DIR: string = `${ROOT}.cache`;

function which(cmd: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * Set to a reason, makes every eBPF skip helper report that reason (to test
 * that a skip in CI fails the run, on a machine that could run them).
 */
export const FORCE_SKIP_ENV = "SPANPROBE_TEST_FORCE_EBPF_SKIP";

/** Why eBPF tests cannot run here, or `undefined` when they can. CI (root, bpftrace) must run them. */
export function ebpfSkipReason(): string | undefined {
  const forced = Deno.env.get(FORCE_SKIP_ENV);
  if (forced) return forced;
  if (Deno.uid() !== 0) return "not root: eBPF tests need root (CI runs as root)";
  if (!which("bpftrace")) return "bpftrace is not installed (apt-get install bpftrace)";
  try {
    Deno.statSync("/sys/kernel/tracing/events");
  } catch {
    return "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)";
  }
  return undefined;
}

/**
 * Skip message printed once per file; returns whether to skip. In CI (`CI`
 * set) an eBPF skip is a failure: a test that says why is registered and
 * fails, so a run where eBPF tests could not run never passes. Skips CI
 * cannot avoid (no denort download) pass `requiredInCi: false`.
 */
export function announceSkip(
  file: string,
  reason: string | undefined,
  o: { requiredInCi?: boolean } = {},
): boolean {
  if (!reason) return false;
  console.warn(`SKIP ${file}: ${reason}`);
  if (Deno.env.get("CI") && o.requiredInCi !== false) {
    Deno.test(`${file}: eBPF tests must run in CI`, () => {
      throw new Error(`${file}: eBPF tests were skipped in CI (${reason}); CI must run them as root with bpftrace`);
    });
  }
  return true;
}

/** Compiles tests/targets/NAME.c to .cache/NAME (when the source is newer); returns the binary path. */
export async function buildTarget(name: string, extraFlags: string[] = []): Promise<string> {
  const src = `${ROOT}tests/targets/${name}.c`;
  const out = `${CACHE_DIR}/${name}`;
  await Deno.mkdir(CACHE_DIR, { recursive: true });
  try {
    if (Deno.statSync(out).mtime! >= Deno.statSync(src).mtime!) return out;
  } catch { /* not built yet */ }
  const cc = await new Deno.Command("cc", {
    args: ["-O2", "-g", "-pthread", "-o", out, src, ...extraFlags],
    stderr: "piped",
  }).output();
  if (!cc.success) throw new Error(`building ${name}: ${new TextDecoder().decode(cc.stderr)}`);
  return out;
}

/** One line of a usdt_requests truth file. */
export interface TruthRecord {
  idHex: string;
  startNs: bigint;
  durationNs: bigint;
  status: number;
  /** The program's own wall-clock time of its request_error probe (0n: none). */
  errorNs: bigint;
}

/** Reads the ground truth a usdt_requests run wrote. */
export async function readTruth(path: string): Promise<TruthRecord[]> {
  const text = await Deno.readTextFile(path);
  return text.trim().split("\n").filter(Boolean).map((line) => {
    const [idHex, start, dur, status, errorAt] = line.split(" ");
    return {
      idHex,
      startNs: BigInt(start),
      durationNs: BigInt(dur),
      status: Number(status),
      errorNs: BigInt(errorAt ?? "0"),
    };
  });
}

/** Hex of a string's UTF-8 bytes or of raw bytes. */
export function hexOf(v: unknown): string {
  const bytes = v instanceof Uint8Array ? v : new TextEncoder().encode(String(v));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs spanprobe's CLI as a child process, collecting stdout and stderr. By
 * default under exactly the permission set `deno task start` derives for
 * these arguments (lib/permissions.ts via scripts/launch.ts).
 */
export async function runSpanprobe(
  args: string[],
  options: { permissions?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const permissions = options.permissions ?? sandboxFlags(args, options.env);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, `${ROOT}main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, options.timeoutMs ?? 60_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The production permission flags for `spanprobe ARGS` (what `deno task start` would use). */
export function sandboxFlags(args: string[], env: Record<string, string> = {}): string[] {
  const [command, ...rest] = args;
  const minimal = permissionFlags({ read: [`${ROOT}probes`] });
  try {
    return permissionFlags(permissionsForCommand(command, rest, (k) => env[k]));
  } catch {
    return minimal; // a bad command line: the agent itself reports it
  }
}
