/**
 * `--command` with a ring-buffer probe, through the CLI under exactly the
 * launcher's permission set: the agent starts the command once the probe is
 * attached, traces it, and ends when it ends (it used to be ignored: the
 * agent ran until killed, with no spans).
 */
import assert, { strictEqual } from "node:assert/strict";
import { commandArgv } from "../lib/agent/traced_command.ts";
import { UserError } from "../lib/core/errors.ts";
import { buildEmbeddedObjects, deployRunFlags } from "../scripts/compile.ts";
import { announceSkip, buildTarget, ebpfSkipReason, ROOT, runSpanprobe, sandboxFlags } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";

const skip = announceSkip("ringbuf_cli_command_test.ts", ebpfSkipReason());

Deno.test("--command text splits like bpftrace -c; shell syntax is refused with a reason", () => {
  assert.deepStrictEqual(commandArgv("  .cache/rb_demo   3 2000 "), [".cache/rb_demo", "3", "2000"]);
  for (const bad of ["", "   ", "sh -c 'x'", "a; b", "a | b", "echo $HOME"]) {
    assert.throws(() => commandArgv(bad), (e) => e instanceof UserError && e.exitCode === 2, bad);
  }
});

Deno.test("the launcher grants --command's program only when the agent itself starts it", () => {
  const rb = sandboxFlags(["run", "--probe", "joined-trace", "--command", ".cache/rb_demo 3"]);
  assert(rb.some((f) => f.startsWith("--allow-run=") && f.endsWith(`,${Deno.cwd()}/.cache/rb_demo`)), rb.join(" "));
  const bt = sandboxFlags([
    "run",
    "--probe",
    "usdt-requests",
    "--binary",
    "/usr/bin/true",
    "--command",
    "/usr/bin/true",
  ]);
  assert(bt.includes("--allow-run=bpftrace"), "bpftrace starts the command of bpftrace probes");
});

Deno.test({
  name: "run --probe joined-trace --command DEMO: spans of the command, and the agent ends with it",
  ignore: skip,
  async fn() {
    const demo = await buildTarget("rb_demo");
    strictEqual(demo, `${ROOT}.cache/rb_demo`, "where joined-trace.yaml attaches");
    const receiver = await startOtlpReceiver();
    try {
      const requests = 3;
      const r = await runSpanprobe([
        "run",
        "--probe",
        "joined-trace",
        "--command",
        `${demo} ${requests} 2000`,
        "--endpoint",
        receiver.baseUrl,
        "--log-format",
        "json",
      ], { timeoutMs: 90_000 });
      strictEqual(r.code, 0, `exit ${r.code} (137: still running when killed)\n${r.stderr}`);
      const printed = r.stdout.trim().split("\n").filter((l) => l.startsWith("00-"));
      strictEqual(printed.length, requests, `the command ran and printed its traceparents: ${r.stdout}`);
      for (const line of printed) {
        const [, traceId, spanId] = line.split(" ")[0].split("-");
        const spans = receiver.spans.filter((s) => s.traceId === traceId);
        assert(spans.some((s) => s.spanId === spanId), `the request span of ${traceId}`);
        assert(spans.some((s) => s.parentSpanId === spanId), `kernel children of ${traceId}`);
      }
      const logs = r.stderr.trim().split("\n").map((l) => JSON.parse(l));
      assert(logs.some((l) => l.msg === "command exited" && l.code === 0), r.stderr);
      assert(logs.some((l) => l.msg === "stopping" && l.reason === "sources ended"), r.stderr);
    } finally {
      await receiver.close();
    }
  },
});

Deno.test({
  name: "--command that cannot start: exit 2 in one line, probes detached (missing program; the baked set)",
  ignore: skip,
  async fn() {
    const missing = await runSpanprobe(["run", "--probe", "exec-trace", "--command", "/nonexistent/prog 1"]);
    strictEqual(missing.code, 2, missing.stderr);
    assert(/^spanprobe: --command: \/nonexistent\/prog not found/m.test(missing.stderr), missing.stderr);
    // the compiled binary's set runs bpftrace only: it cannot start a command for ring-buffer probes, and says so
    await buildEmbeddedObjects(); // what the binary embeds (the test must not depend on another test having built them)
    const baked = await runSpanprobe(["run", "--probe", "exec-trace", "--command", "/usr/bin/true"], {
      permissions: deployRunFlags(),
    });
    strictEqual(baked.code, 2, baked.stderr);
    assert(
      /^spanprobe: --command: not allowed to start \/usr\/bin\/true .*trace it by --pid or --binary/m.test(
        baked.stderr,
      ),
      baked.stderr,
    );
    assert(!/\bat \S+:\d+:\d+/.test(missing.stderr + baked.stderr), "no stack trace");
  },
});

Deno.test({
  name: "--command gets the environment bpftrace -c would give it, never the agent's secrets",
  ignore: skip,
  async fn() {
    const r = await runSpanprobe(["run", "--probe", "exec-trace", "--command", "/usr/bin/env"], {
      env: { OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20sekrit-token-123", LANG: "C.UTF-8" },
    });
    strictEqual(r.code, 0, r.stderr);
    assert(/^LANG=C\.UTF-8$/m.test(r.stdout), `the command ran with the passed-on variables:\n${r.stdout}`);
    assert(!r.stdout.includes("sekrit") && !r.stdout.includes("OTEL_EXPORTER_OTLP_HEADERS"), r.stdout);
  },
});
