/**
 * Test support for the Go probe: building the Go programs in tests/targets
 * with the system's Go (no modules, a throw-away GOCACHE) and starting them.
 * @module
 */
import { ROOT } from "./ebpf.ts";

/** Why Go tests cannot run here (no `go`), or undefined. */
export function goSkipReason(): string | undefined {
  try {
    const out = new Deno.Command("go", { args: ["version"], stdout: "null", stderr: "null" }).outputSync();
    return out.success ? undefined : "go does not run";
  } catch {
    return "go is not installed (apt-get install golang-go)";
  }
}

/**
 * Whether a Go test file must be skipped (printed once), given why it cannot
 * run. In CI (env CI set) it is never skipped: the test runs and fails with
 * the reason ({@linkcode requireRunnable}), because a skipped eBPF test there is a failure.
 */
export function skipGoTest(file: string, reason: string | undefined): boolean {
  if (reason && Deno.env.get("CI")) return false;
  if (reason) console.warn(`SKIP ${file}: ${reason}`);
  return reason !== undefined;
}

/** Throws when the test cannot run (only reached in CI, where skipping is not allowed). */
export function requireRunnable(reason: string | undefined): void {
  if (reason) throw new Error(`this test must run in CI but cannot: ${reason}`);
}

/** A temporary folder for Go builds; remove with {@linkcode Deno.remove} when done. */
export async function goTempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "spanprobe-go-test-" });
}

/**
 * Builds tests/targets/NAME (a `package main` folder) into `dir/OUT` with
 * extra `go build` flags (e.g. `-ldflags=-s -w`); returns the binary path.
 */
export async function buildGoProgram(name: string, dir: string, flags: string[] = [], out = name): Promise<string> {
  const bin = `${dir}/${out}`;
  const res = await new Deno.Command("go", {
    args: ["build", ...flags, "-o", bin, "."],
    cwd: `${ROOT}tests/targets/${name}`,
    env: { GOCACHE: `${dir}/gocache`, GO111MODULE: "off", GOFLAGS: "" },
    stderr: "piped",
  }).output();
  if (!res.success) throw new Error(`go build ${name}: ${new TextDecoder().decode(res.stderr)}`);
  return bin;
}

/** A started Go test program and the words of its READY line. */
export interface GoProcess {
  child: Deno.ChildProcess;
  pid: number;
  ready: string[];
  /** SIGKILL (if alive) and wait; returns the exit status. */
  kill(): Promise<Deno.CommandStatus>;
}

/** Starts `bin` (with extra environment `env`) and waits for its `READY ...` line on stdout. */
export async function startGoProgram(bin: string, env: Record<string, string> = {}): Promise<GoProcess> {
  const child = new Deno.Command(bin, { stdout: "piped", stderr: "inherit", env }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${bin} exited before READY`);
    text += value;
  }
  reader.releaseLock();
  const ready = text.split("\n")[0].trim().split(" ").slice(1);
  return {
    child,
    pid: child.pid,
    ready,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.stdout.cancel().catch(() => {});
      return await child.status;
    },
  };
}
