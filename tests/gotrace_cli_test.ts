/**
 * The Go trace commands end to end, under exactly the launcher's permission
 * set, to the real loopback OTLP receiver: `spanprobe gotrace FILE…`, and
 * `spanprobe run --gotrace-dir` with files written slowly in pieces, a
 * corrupt file, and an agent restart (each file exported exactly once).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { parseAgentConfig } from "../lib/config/agent_config.ts";
import { Ev } from "../lib/sources/gotrace/event_types.ts";
import { permissionFlags } from "../lib/permissions.ts";
import { permissionsForGotrace, permissionsForRun } from "../scripts/launch.ts";
import { GoTraceWriter } from "./support/gotrace_writer.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const FIXTURES = `${ROOT}tests/fixtures/go-trace/`;

/** A Go 1.25 trace with one task named `task` and `regions` regions in it; wall clock from its snapshot. */
function taskTrace(task: string, regions: number, sec: bigint): Uint8Array {
  const w = new GoTraceWriter(25);
  const g = w.generation(1, 1_000_000_000n, 100n, { dt: 0, mono: 1n, sec, nsec: 0n });
  const b = g.batch(3n, 100n);
  b.ev(Ev.ProcStatus, 1, 0, 1).ev(Ev.GoStatus, 1, 1, 3, 2);
  b.ev(Ev.UserTaskBegin, 8, 1, 0, g.str(task), 0); // tick 110 = sec + 10 ns
  for (let i = 0; i < regions; i++) {
    b.ev(Ev.UserRegionBegin, 10, 1, g.str(`${task}/region`), 0).ev(Ev.UserRegionEnd, 5, 1, g.str(`${task}/region`), 0);
  }
  b.ev(Ev.UserTaskEnd, 10, 1, 0);
  g.end();
  return w.bytes();
}

async function run(args: string[], flags: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("spanprobe gotrace FILE...: spans over OTLP to the receiver; exit 1 naming the file that cannot be parsed", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const args = [
      "gotrace",
      "--endpoint",
      receiver.baseUrl,
      "-o",
      "otlp",
      "--service-name",
      "annotations",
      "--anchor",
      "2025-03-01T12:00:00.000000001Z",
      `${FIXTURES}go122-annotations.trace`,
      `${FIXTURES}go122-fail-first-gen-first.trace`,
    ];
    const flags = permissionFlags(permissionsForGotrace(args.slice(1), () => undefined));
    const res = await run(args, flags);
    assertEquals(res.code, 1, res.stderr);
    assert(/go122-fail-first-gen-first\.trace: GoCreate .*expected a proc/.test(res.stderr), res.stderr);
    assert(!/\n\s+at /.test(res.stderr), "no stack trace");
    const spans = await receiver.waitForSpans(7);
    assertEquals(spans.length, 7);
    const task = spans.find((s) => s.name === "task0")!;
    assertEquals(task.resource["service.name"], "annotations");
    assertEquals(task.resource["go.trace.clock"], "anchor");
    assertEquals(task.resource["go.trace.version"], "1.22");
    assertEquals(task.events.map((e) => [e.name, e.attributes["go.log.message"]]), [["go.log", "0123456789abcdef"]]);
    // the anchor is the last event: the unended regions end there
    const unended = spans.find((s) => s.name === "unended region")!;
    assertEquals(unended.endNs, 1_740_830_400_000_000_001n);
    assertEquals(unended.attributes["spanprobe.incomplete"], "trace_end");
    // usage errors exit 2; a missing file exits 1 with its name
    assertEquals((await run(["gotrace", "--anchor", "yesterday", `${FIXTURES}go125-sync.trace`], flags)).code, 2);
    const missing = await run(["gotrace", "/nonexistent/x.trace"], ["-A"]);
    assertEquals(missing.code, 1);
    assert(/\/nonexistent\/x\.trace: no such file/.test(missing.stderr), missing.stderr);
  } finally {
    await receiver.close();
  }
});

interface LogLine {
  msg: string;
  [k: string]: unknown;
}

/** The agent as a child process with its JSON log lines. */
function startAgent(args: string[]) {
  const flags = permissionFlags(permissionsForRun(args.slice(1), () => undefined));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}main.ts`, ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: LogLine[] = [];
  const raw: string[] = [];
  let notify = () => {};
  const reading = (async () => {
    let carry = "";
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      const parts = (carry + dec.decode(chunk, { stream: true })).split("\n");
      carry = parts.pop()!;
      for (const line of parts) {
        raw.push(line);
        try {
          logs.push(JSON.parse(line));
        } catch { /* not a log line */ }
      }
      notify();
    }
  })();
  return {
    logs,
    raw,
    /** Resolves with the first log line matching `pred` (rejects after 30 s or when the agent exits). */
    async waitLog(pred: (l: LogLine) => boolean, what: string): Promise<LogLine> {
      const deadline = performance.now() + 30_000;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (performance.now() > deadline) throw new Error(`no log line ${what}:\n${raw.slice(-20).join("\n")}`);
        const changed = new Promise<void>((r) => notify = r);
        const timer = new Promise<void>((r) => setTimeout(r, 1000));
        await Promise.race([changed, timer, reading]);
      }
    },
    async stop(): Promise<number> {
      child.kill("SIGTERM");
      const status = await child.status;
      await reading;
      return status.code;
    },
  };
}

Deno.test("--gotrace-dir: files written in pieces are exported once, corrupt ones counted, nothing twice after a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-gotrace-" });
  const watched = join(dir, "traces");
  const state = join(dir, "state");
  await Deno.mkdir(watched);
  await Deno.mkdir(state);
  const receiver = await startOtlpReceiver();
  const args = [
    "run",
    "--gotrace-dir",
    watched,
    "--state-dir",
    state,
    "--endpoint",
    receiver.baseUrl,
    "-o",
    "otlp",
    "--log-format",
    "json",
    "--log-level",
    "debug",
  ];
  try {
    let agent = startAgent(args);
    await agent.waitLog((l) => l.msg === "gotrace: watching", "watching");
    // a file written in three pieces, each cut inside a batch: the agent must see it unfinished
    const a = taskTrace("slow-file", 300, 1_750_000_000n);
    const pathA = join(watched, "a.trace");
    const f = await Deno.open(pathA, { write: true, create: true });
    await f.write(a.subarray(0, 1000));
    await agent.waitLog((l) => l.msg === "gotrace: file still being written" && l.bytes === 1000, "a.trace unfinished");
    await f.write(a.subarray(1000, 3000));
    await agent.waitLog((l) => l.msg === "gotrace: file still being written" && l.bytes === 3000, "a.trace grew");
    await f.write(a.subarray(3000));
    f.close();
    await receiver.waitForSpans(301, 30_000);
    // a finished file renamed into the folder, and a corrupt one
    const pathB = join(watched, "b.trace");
    await Deno.writeFile(join(dir, "b.tmp"), taskTrace("renamed-file", 2, 1_750_000_100n));
    await Deno.rename(join(dir, "b.tmp"), pathB);
    const corrupt = taskTrace("corrupt", 1, 1n);
    corrupt[40] = 0xee;
    await Deno.writeFile(join(watched, "c.trace"), corrupt);
    await Deno.writeFile(join(watched, "notes.txt"), new TextEncoder().encode("not a trace"));
    await receiver.waitForSpans(304, 30_000);
    await agent.waitLog((l) => l.msg === "gotrace: file cannot be parsed; skipped until it changes", "corrupt logged");
    assertEquals(await agent.stop(), 0);
    const summary = agent.logs.find((l) => l.msg === "summary")!;
    assertEquals([summary.gotrace_files, summary.gotrace_files_failed], [2, 1]);
    const names = receiver.spans.map((s) => s.name);
    assertEquals(names.filter((n) => n === "slow-file").length, 1);
    assertEquals(names.filter((n) => n === "slow-file/region").length, 300);
    assertEquals(names.filter((n) => n === "renamed-file").length, 1);
    const slow = receiver.spans.find((s) => s.name === "slow-file")!;
    // task begin at tick 110 (10 ns after the snapshot at tick 100), 300 regions of 15 ticks, end 10 later
    assertEquals(slow.startNs, 1_750_000_000_000_000_010n);
    assertEquals(slow.endNs, 1_750_000_000_000_000_010n + 300n * 15n + 10n);
    assertEquals(slow.resource["go.trace.clock"], "clock_snapshot");

    // restart with one more file written while the agent was down
    await Deno.writeFile(join(watched, "d.trace"), taskTrace("while-down", 1, 1_750_000_200n));
    agent = startAgent(args);
    await receiver.waitForSpans(306, 30_000);
    assertEquals(await agent.stop(), 0);
    const converted = agent.logs.filter((l) => l.msg === "gotrace: converted").map((l) => l.file);
    assertEquals(converted, [join(watched, "d.trace")], "only the new file after the restart");
    assertEquals(receiver.spans.length, 306);
    assertEquals(new Set(receiver.spans.map((s) => s.spanId)).size, 306, "no span twice");
    const saved = JSON.parse(await Deno.readTextFile(join(state, "gotrace-files.json")));
    assertEquals(Object.keys(saved.files).sort(), ["a.trace", "b.trace", "c.trace", "d.trace"]);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config file: gotrace_dir and state_dir, next to probes; misspelled keys name file and line", () => {
  const cfg = parseAgentConfig(
    "agent.yaml",
    "probes:\n  - probe: http_requests\ngotrace_dir: /var/lib/app/traces\nstate_dir: /var/lib/spanprobe\n",
  );
  assertEquals([cfg.gotraceDir, cfg.stateDir, cfg.probes?.length], ["/var/lib/app/traces", "/var/lib/spanprobe", 1]);
  let message = "";
  try {
    parseAgentConfig("agent.yaml", "gotrace_dirs: /x\n");
  } catch (e) {
    message = (e as Error).message;
  }
  assert(/agent\.yaml:1/.test(message) && /gotrace_dirs/.test(message), message);
});

Deno.test("through the launcher (deno task start gotrace): a relative file, a header secret sent but never printed, exit 3 when the collector refuses", async () => {
  const receiver = await startOtlpReceiver({ behavior: { kind: "status", status: 500 } });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${ROOT}scripts/launch.ts`,
        "gotrace",
        "--endpoint",
        receiver.baseUrl,
        "--header",
        "x-api-key=s3cr3t-t0ken-value",
        "-o",
        "otlp",
        "--flush-timeout",
        "3000",
        "go-trace/go122-task-across-generations.trace",
      ],
      cwd: `${ROOT}tests/fixtures`,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    // the collector refuses everything: spans are lost to a failing output, exit 3 (the agent's rule)
    assertEquals(out.code, 3, stderr);
    assert(receiver.requests.length >= 1, stderr);
    assertEquals(receiver.requests[0].headers["x-api-key"], "s3cr3t-t0ken-value");
    assert(!stderr.includes("s3cr3t-t0ken-value"), stderr);
    assert(/visible in the process list/.test(stderr), "the launcher warns about --header");
    assert(/spans were lost because the output is failing/.test(stderr), stderr);
  } finally {
    await receiver.close();
  }
});
