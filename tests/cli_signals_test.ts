/**
 * A signal at any phase of a run ends in an orderly stop (issue 17,
 * docs/reliability.md "Shutdown"): SIGTERM or a terminal's Ctrl-C (SIGINT to
 * the launcher, the agent and bpftrace at once) while bpftrace is still
 * attaching — the spool is already being replayed then — stops bpftrace,
 * logs `stopping` and the summary and exits 0; before, the agent's handlers
 * came only after attaching and it died with 143/130 and no summary. Also
 * SIGTERM while running with the collector down: the summary, and exit 3.
 * The real CLI (under the launcher's permission set, or the launcher itself),
 * a stand-in bpftrace that never attaches until stopped, the real loopback
 * OTLP receiver.
 */
import assert, { match, ok, strictEqual } from "node:assert/strict";
import { exitAndStderr, ROOT, spawnSpanprobe } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { writeFakeBpftrace, writeReplay } from "./support/replay.ts";

/** DIR/bpftrace: writes "PID PPID" to DIR/attaching, then waits (never attaches) until it is signalled. */
async function attachingBpftrace(dir: string): Promise<string> {
  const path = `${dir}/bpftrace`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\necho "$$ $PPID" > '${dir}/attaching.tmp'\nmv '${dir}/attaching.tmp' '${dir}/attaching'\nexec sleep 600\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

/** Waits for DIR/attaching and returns the stand-in bpftrace's pid and its parent's (the agent). */
async function whenAttaching(dir: string, child: Deno.ChildProcess): Promise<{ bpftrace: number; agent: number }> {
  let exited = false;
  child.status.then(() => exited = true);
  for (;;) {
    try {
      const [bpftrace, agent] = (await Deno.readTextFile(`${dir}/attaching`)).trim().split(" ").map(Number);
      return { bpftrace, agent };
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    assert(!exited, "the agent exited before bpftrace started");
    await new Promise((r) => setTimeout(r, 20)); // polling for a file the stand-in writes: a condition, not a delay
  }
}

function isGone(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-signals-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SIGTERM while bpftrace attaches (spool replay under way): orderly stop, summary, exit 0", async () => {
  await withDir(async (dir) => {
    const fake = await attachingBpftrace(dir);
    const receiver = await startOtlpReceiver({ behavior: "down" });
    try {
      const args = [
        "run",
        "--probe",
        "usdt-requests",
        "--binary",
        fake,
        "--bpftrace",
        fake,
        "--endpoint",
        receiver.baseUrl,
        "--spool-dir",
        `${dir}/spool`,
        "--flush-timeout",
        "1000",
        "--log-format",
        "json",
      ];
      const child = spawnSpanprobe(args);
      const { bpftrace } = await whenAttaching(dir, child);
      child.kill("SIGTERM");
      const r = await exitAndStderr(child);
      strictEqual(r.code, 0, r.stderr);
      const logs = r.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      const stopping = logs.find((l) => l.msg === "stopping");
      strictEqual(stopping?.reason, "SIGTERM", r.stderr);
      ok(logs.some((l) => l.msg === "summary"), `a summary:\n${r.stderr}`);
      ok(!logs.some((l) => l.msg === "running"), "never said running");
      ok(isGone(bpftrace), "the attaching bpftrace was stopped");
    } finally {
      await receiver.close();
    }
  });
});

Deno.test("Ctrl-C while bpftrace attaches, through the launcher (SIGINT to every process): summary, exit 0", async () => {
  await withDir(async (dir) => {
    const fake = await attachingBpftrace(dir);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}scripts/launch.ts`, "--probe", "usdt-requests", "--binary", fake, "--bpftrace", fake],
      stdout: "null",
      stderr: "piped",
      env: { INIT_CWD: "" },
    }).spawn();
    const { bpftrace, agent } = await whenAttaching(dir, child);
    // a terminal sends SIGINT to the whole foreground group
    for (const pid of [child.pid, agent, bpftrace]) Deno.kill(pid, "SIGINT");
    const r = await exitAndStderr(child);
    strictEqual(r.code, 0, r.stderr);
    match(r.stderr, /INFO {2}stopping reason=SIGINT/);
    match(r.stderr, /INFO {2}summary /);
    ok(!/\n\s+at /.test(r.stderr), `no stack trace:\n${r.stderr}`);
    ok(isGone(bpftrace), "bpftrace is gone");
  });
});

Deno.test("SIGTERM while running with the collector down (no spool): summary, spans lost, exit 3", async () => {
  await withDir(async (dir) => {
    const replay = `${dir}/replay.ndjson`;
    await writeReplay(replay, 20);
    // a FIFO: bpftrace's output never ends, so the agent runs until the signal
    const fifo = `${dir}/fifo`;
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const fake = await writeFakeBpftrace(dir, fifo);
    const receiver = await startOtlpReceiver({ behavior: "down" });
    try {
      const args = [
        "run",
        "--probe",
        "usdt-requests",
        "--binary",
        fake,
        "--bpftrace",
        fake,
        "--endpoint",
        receiver.baseUrl,
        "--flush-timeout",
        "500",
        "--log-format",
        "json",
      ];
      const child = spawnSpanprobe(args);
      const writer = await Deno.open(fifo, { write: true });
      await writer.write(await Deno.readFile(replay)); // held open: bpftrace keeps running
      const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes('"msg":"running"')) {
        const { value, done } = await stderr.read();
        assert(!done, `ended before running:\n${text}`);
        text += value;
      }
      child.kill("SIGTERM");
      for (;;) {
        const { value, done } = await stderr.read();
        if (done) break;
        text += value;
      }
      writer.close();
      const code = (await child.status).code;
      strictEqual(code, 3, text);
      const logs = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      const summary = logs.find((l) => l.msg === "summary");
      ok(summary, `a summary:\n${text}`);
      strictEqual(summary.spans_exported ?? 0, 0);
      ok(logs.some((l) => l.msg === "spans were lost because the output is failing"), text);
    } finally {
      await receiver.close();
    }
  });
});
