/**
 * The capabilities a ring-buffer probe needs, measured like
 * permissions_caps_test.ts does for bpftrace: exec-trace through the CLI
 * under the launcher's flags, with only CAP_BPF + CAP_PERFMON in the
 * bounding set (uid 0, no_new_privs), traces the command it starts; without
 * CAP_BPF or CAP_PERFMON it fails. Ring buffers need
 * nothing more (mapping them is allowed to the map's creator).
 */
import assert, { match, strictEqual } from "node:assert/strict";
import { buildEmbeddedObjects } from "../scripts/compile.ts";
import { reducedCaps, setprivMissing } from "./support/caps.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { announceSkip, buildTarget, ebpfSkipReason, ROOT, sandboxEnv, sandboxFlags } from "./support/ebpf.ts";

const skip = announceSkip("ringbuf_caps_test.ts", ebpfSkipReason() ?? setprivMissing());

async function execTraceUnder(caps: string[]) {
  await buildEmbeddedObjects(); // as the image ships them: no build under reduced capabilities
  const target = await buildTarget("usdt_requests");
  const receiver = await startOtlpReceiver();
  try {
    const args = ["run", "--probe", "exec-trace", "--command", `${target} --requests 3 --threads 1 --rate 100`];
    args.push("--endpoint", receiver.baseUrl, "--log-format", "json");
    const child = new Deno.Command("setpriv", {
      args: [
        ...reducedCaps(caps),
        Deno.execPath(),
        "run",
        ...sandboxFlags(args),
        `${ROOT}main.ts`,
        ...args,
      ],
      env: sandboxEnv(args),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const out = await child.output();
    clearTimeout(timer);
    const execs = receiver.spans.filter((s) => s.attributes["process.executable.path"] === target);
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr), execs };
  } finally {
    await receiver.close();
  }
}

Deno.test({
  name: "exec-trace needs only CAP_BPF + CAP_PERFMON, and says so without either",
  ignore: skip,
  async fn() {
    const ok = await execTraceUnder(["bpf", "perfmon"]);
    strictEqual(ok.code, 0, ok.stderr);
    strictEqual(ok.execs.length, 1, `the command's exec span:\n${ok.stderr}`);
    const noBpf = await execTraceUnder(["perfmon"]);
    assert(noBpf.code !== 0, "fails without CAP_BPF");
    match(noBpf.stderr, /needs CAP_BPF and CAP_PERFMON/);
    assert(!/\bat \S+:\d+:\d+/.test(noBpf.stderr), "no stack trace");
    const noPerfmon = await execTraceUnder(["bpf"]);
    assert(noPerfmon.code !== 0, `fails without CAP_PERFMON:\n${noPerfmon.stderr}`);
    match(noPerfmon.stderr, /needs CAP_BPF and CAP_PERFMON/, "tracepoint programs need CAP_PERFMON to load");
  },
});
