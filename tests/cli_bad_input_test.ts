/**
 * Bad input a new user may type (issue 17): each gives one clear line on
 * stderr and exit 2, never a hang, a stack trace or a three-line parser
 * message — through the launcher (`deno task start`'s scripts/launch.ts) and
 * the agent under the launcher's permission set.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { MAX_CONFIG_BYTES } from "../lib/config/text_file.ts";
import { ROOT, runSpanprobe } from "./support/ebpf.ts";

/** Runs the launcher as `deno task start` would, in `cwd`, with a bound (a hang is a failure, not a wait). */
async function launch(args: string[], cwd: string): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/launch.ts`, ...args],
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { INIT_CWD: "" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const out = await child.output();
  clearTimeout(timer);
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

function oneLine(r: { code: number; stderr: string }, pattern: RegExp): void {
  strictEqual(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  strictEqual(lines.length, 1, `one line:\n${r.stderr}`);
  match(lines[0], pattern);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-badinput-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a config or probe spec that is a FIFO or a device is refused at once (it used to block forever)", async () => {
  await withDir(async (dir) => {
    const fifo = `${dir}/config.yaml`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    ok(made.success);
    const notRegular = /: cannot read (config|probe spec): not a regular file/;
    oneLine(await launch(["--config", "config.yaml"], dir), notRegular);
    oneLine(await launch(["check", "--config", fifo], dir), notRegular);
    oneLine(await launch(["--probe", "./config.yaml"], dir), notRegular);
    oneLine(
      await launch(["check", "--probe", "/dev/null"], dir),
      /^spanprobe: \/dev\/null: cannot read probe spec: not/,
    );
    // the agent itself (a compiled binary has no launcher in front)
    const r = await runSpanprobe(["check", "--config", fifo], {
      permissions: [`--allow-read=${dir}`],
      timeoutMs: 30_000,
    });
    oneLine(r, notRegular);
    oneLine(await launch(["--config", dir], dir), /: cannot read config: it is a directory$/);
    const huge = `${dir}/huge.yaml`;
    await Deno.writeTextFile(huge, "");
    await Deno.truncate(huge, MAX_CONFIG_BYTES + 1); // sparse: no 4 MiB written
    oneLine(await launch(["check", "--config", huge], dir), /: cannot read config: 4194305 bytes; at most 4194304/);
  });
});

Deno.test("an option value that starts with '-': one line, exit 2 (node's message spans three)", async () => {
  await withDir(async (dir) => {
    oneLine(await launch(["--duration", "-1"], dir), /argument is ambiguous\. Did you forget/);
    const r = await runSpanprobe(["run", "--flush-timeout", "-5"]);
    oneLine(r, /^spanprobe: Option '--flush-timeout' argument is ambiguous\. .*\(see 'spanprobe run --help'\)$/);
  });
});

Deno.test("--bpftrace naming a missing file says so (not 'pass --bpftrace PATH')", async () => {
  const r = await runSpanprobe([
    "run",
    "--probe",
    "usdt-requests",
    "--binary",
    "/usr/bin/true",
    "--bpftrace",
    "/nonexistent/bpftrace",
  ]);
  strictEqual(r.code, 1, r.stderr);
  match(
    r.stderr,
    /^spanprobe: cannot start \/nonexistent\/bpftrace \(--bpftrace, or bpftrace: in the config\): not found/,
  );
  ok(!r.stderr.includes("or pass --bpftrace"), r.stderr);
});
