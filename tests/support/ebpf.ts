/**
 * Test support for eBPF tests: why a test must skip (not root, no bpftrace,
 * no tracefs) and building the C targets the tests trace.
 * @module
 */
import { fileURLToPath } from "node:url";
import { permissionFlags, type PermissionOptions } from "../../lib/permissions.ts";
import { launchEnv, permissionsForCommand } from "../../scripts/launch.ts";

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
  // what the launcher adds to the agent's environment (the build cache folder it resolved)
  const launcherEnv = options.permissions ? {} : sandboxEnv(args, options.env);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, `${ROOT}main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { ...launcherEnv, ...options.env },
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

/**
 * Starts spanprobe's CLI as a child process under the launcher's permission
 * set and environment for `args` (as {@linkcode runSpanprobe} does), with
 * `env` added, stdout discarded and stderr piped: for tests that act while
 * it runs.
 */
export function spawnSpanprobe(args: string[], env: Record<string, string> = {}): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...sandboxFlags(args, env), `${ROOT}main.ts`, ...args],
    stdout: "null",
    stderr: "piped",
    env: { ...sandboxEnv(args, env), ...env },
  }).spawn();
}

/** A spawned CLI's exit code and its whole stderr as text, once it has ended. */
export async function exitAndStderr(child: Deno.ChildProcess): Promise<{ code: number; stderr: string }> {
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** The production permission flags for `spanprobe ARGS` (what `deno task start` would use). */
export function sandboxFlags(args: string[], env: Record<string, string> = {}): string[] {
  const minimal = () => permissionFlags({ read: [`${ROOT}probes`] });
  const options = sandboxOptions(args, env);
  if (!options) return minimal();
  try {
    return permissionFlags(options);
  } catch {
    return minimal(); // a value the launcher refuses: the agent itself reports it
  }
}

const CACHE_ENV = ["SPANPROBE_CACHE_DIR", "XDG_CACHE_HOME", "HOME"];

/**
 * What the launcher adds to the agent's environment for `spanprobe ARGS`:
 * the build cache folder it resolved and granted (`SPANPROBE_CACHE_DIR`; the
 * sandboxed agent cannot read HOME). Pass it as `env` with
 * {@linkcode sandboxFlags} when spawning the agent yourself.
 */
export function sandboxEnv(args: string[], env: Record<string, string> = {}): Record<string, string> {
  return launchEnv(sandboxOptions(args, env) ?? { read: [] });
}

/**
 * The launcher's permission options for `spanprobe ARGS` (its environment:
 * `env`, and this process's cache variables), or undefined for a command line
 * it refuses (the agent itself then reports it).
 */
export function sandboxOptions(args: string[], env: Record<string, string> = {}): PermissionOptions | undefined {
  const [command, ...rest] = args;
  // `env`, plus where this process's user cache is (as the launcher would see it)
  const getEnv = (k: string) => env[k] ?? (CACHE_ENV.includes(k) ? Deno.env.get(k) : undefined);
  try {
    return permissionsForCommand(command, rest, getEnv);
  } catch {
    return undefined;
  }
}
