/**
 * Attach failures say what is wrong (issue 9 defect 7), with real bpftrace
 * and the real USDT target under the launcher's permission set: a `--pid`
 * naming no process is reported as such (not as a compile error), and a
 * USDT probe the binary lacks is named together with the probes the binary
 * has (read from its `.note.stapsdt` section).
 */
import assert, { match, ok, strictEqual } from "node:assert/strict";
import { readUsdtProbes } from "../lib/sources/bpftrace/usdt_notes.ts";
import { announceSkip, buildTarget, ebpfSkipReason, runSpanprobe } from "./support/ebpf.ts";

const skip = announceSkip("cli_attach_errors_test.ts", ebpfSkipReason());

/** A pid no process has now (above pid_max or simply unused). */
function unusedPid(): number {
  for (let pid = 999_999; pid > 900_000; pid--) {
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch {
      return pid;
    }
  }
  throw new Error("no unused pid found");
}

Deno.test("usdt notes: the target's probes, read from its ELF", async () => {
  const target = await buildTarget("usdt_requests");
  const probes = (await readUsdtProbes(target)).map((p) => `${p.provider}:${p.name}`).sort();
  assert.deepStrictEqual(probes, [
    "spanprobe_demo:request_end",
    "spanprobe_demo:request_error",
    "spanprobe_demo:request_start",
  ]);
  strictEqual((await readUsdtProbes("/bin/sh")).length, 0);
});

Deno.test({
  name: "--pid of no process: 'no process with pid N', not 'did not compile'",
  ignore: skip,
  async fn() {
    const target = await buildTarget("usdt_requests");
    const pid = unusedPid();
    const r = await runSpanprobe(["run", "--probe", "usdt-requests", "--binary", target, "--pid", String(pid)]);
    strictEqual(r.code, 1, r.stderr);
    match(r.stderr, new RegExp(`no process with pid ${pid} \\(--pid\\)`));
    ok(!/did not compile/.test(r.stderr), r.stderr);
  },
});

Deno.test({
  name: "a USDT probe the binary lacks: named, with the probes it has",
  ignore: skip,
  async fn() {
    const target = await buildTarget("usdt_requests");
    const r = await runSpanprobe(["run", "--probe", "usdt-requests", "--binary", target, "--param", "provider=nosuch"]);
    strictEqual(r.code, 1, r.stderr);
    match(
      r.stderr,
      new RegExp(
        `the binary ${target} has no USDT probes nosuch:request_start, nosuch:request_end, nosuch:request_error;`,
      ),
    );
    match(r.stderr, /it has: spanprobe_demo:request_end, spanprobe_demo:request_error, spanprobe_demo:request_start/);
    ok(!/couldn't get argument/.test(r.stderr), r.stderr);
  },
});
