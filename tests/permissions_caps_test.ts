/**
 * The minimal Linux capabilities, measured: the end-to-end USDT path (real
 * target, real bpftrace, the agent under its sandbox flags, a loopback OTLP
 * receiver) passes with only CAP_BPF + CAP_PERFMON in the bounding set (uid
 * 0, no_new_privs), and fails without either one. This is what
 * docs/deploy.md and deploy/ grant instead of --privileged.
 *
 * bpftrace 0.17 refuses to run as any uid but 0 ("only supports running as
 * the root user"), so the agent stays uid 0 with everything else dropped.
 */
import assert, { strictEqual } from "node:assert/strict";
import { reducedCaps, setprivMissing } from "./support/caps.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { announceSkip, buildTarget, ebpfSkipReason, hexOf, readTruth, ROOT, sandboxFlags } from "./support/ebpf.ts";

const skip = announceSkip("permissions_caps_test.ts", ebpfSkipReason() ?? setprivMissing());

const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

async function effectiveCaps(caps: string[]): Promise<bigint> {
  const out = await new Deno.Command("setpriv", { args: [...reducedCaps(caps), "cat", "/proc/self/status"] }).output();
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("CapEff:"));
  assert(line, "CapEff in /proc/self/status");
  return BigInt(`0x${line.split(/\s+/)[1]}`);
}

/** `prlimit` arguments that cap locked memory at `kib` for the command that follows. */
function memlockLimit(kib: number): string[] {
  return [`--memlock=${kib * 1024}:${kib * 1024}`, "--"];
}

async function runUnderCaps(caps: string[], requests: number, memlockKib?: number) {
  const target = await buildTarget("usdt_requests");
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-caps-" });
  const truthPath = `${dir}/truth.txt`;
  const receiver = await startOtlpReceiver();
  try {
    const args = [
      "run",
      "--probe",
      "usdt-requests",
      "--binary",
      target,
      "--command",
      `${target} --requests ${requests} --threads 2 --rate 400 --error-every 10 --truth ${truthPath}`,
      "--endpoint",
      receiver.baseUrl,
      "--log-format",
      "json",
    ];
    const agent = [...reducedCaps(caps), Deno.execPath(), "run", ...sandboxFlags(args), `${ROOT}main.ts`, ...args];
    const child = new Deno.Command(memlockKib === undefined ? "setpriv" : "prlimit", {
      args: memlockKib === undefined ? agent : [...memlockLimit(memlockKib), "setpriv", ...agent],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const out = await child.output();
    clearTimeout(timer);
    let truth: Awaited<ReturnType<typeof readTruth>> = [];
    try {
      truth = await readTruth(truthPath);
    } catch { /* the target never ran */ }
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr), truth, spans: receiver.spans.slice() };
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "setpriv really leaves only CAP_BPF + CAP_PERFMON",
  ignore: skip,
  async fn() {
    strictEqual(await effectiveCaps(["bpf", "perfmon"]), (1n << CAP_BPF) | (1n << CAP_PERFMON));
  },
});

Deno.test({
  name: "CAP_BPF + CAP_PERFMON suffice: usdt-requests → OTLP, every span exact",
  ignore: skip,
  async fn() {
    const requests = 100;
    const r = await runUnderCaps(["bpf", "perfmon"], requests);
    assert(r.code === 0, `spanprobe exited ${r.code} under CAP_BPF+CAP_PERFMON:\n${r.stderr}`);
    strictEqual(r.truth.length, requests);
    strictEqual(r.spans.length, requests, "one span per request");
    const byId = new Map(r.spans.map((s) => [hexOf(s.attributes["request.id"]), s]));
    for (const t of r.truth) {
      const s = byId.get(t.idHex);
      assert(s, `span for request ${t.idHex}`);
      strictEqual(s.startNs, t.startNs);
      strictEqual(s.endNs, t.startNs + t.durationNs);
    }
  },
});

Deno.test({
  name: "a locked-memory limit too small for the default output buffer: a smaller one is tried, every span exact",
  ignore: skip,
  async fn() {
    // without CAP_IPC_LOCK, bpftrace's per-CPU buffers (1024 pages each by default) count against RLIMIT_MEMLOCK;
    // 256 KiB is below that on any machine, and above bpftrace's own 64-page default on a few CPUs
    const cpus = navigator.hardwareConcurrency;
    const kib = Math.max(256, cpus * 64 * 4 * 2);
    const requests = 50;
    const r = await runUnderCaps(["bpf", "perfmon"], requests, kib);
    assert(r.code === 0, `spanprobe exited ${r.code} with RLIMIT_MEMLOCK ${kib} KiB:\n${r.stderr}`);
    assert(/the kernel refused bpftrace's output buffer/.test(r.stderr), r.stderr);
    strictEqual(r.spans.length, requests, "one span per request");
  },
});

Deno.test({
  name: "each capability is needed: without CAP_PERFMON no perf buffer, without CAP_BPF no maps",
  ignore: skip,
  async fn() {
    // sysctls that would let an unprivileged process do part of this anyway
    const sysctl = (name: string) => Number(Deno.readTextFileSync(`/proc/sys/kernel/${name}`).trim());
    if (sysctl("perf_event_paranoid") >= 1) {
      const noPerfmon = await runUnderCaps(["bpf"], 5);
      assert(noPerfmon.code !== 0, "must fail without CAP_PERFMON");
      assert(/perf_event_open: Permission denied/.test(noPerfmon.stderr), noPerfmon.stderr);
      strictEqual(noPerfmon.spans.length, 0);
    } else {
      console.warn("kernel.perf_event_paranoid < 1: perf events are open to all; not testing without CAP_PERFMON");
    }
    const noBpf = await runUnderCaps(["perfmon"], 5);
    assert(noBpf.code !== 0, "must fail without CAP_BPF");
    if (sysctl("unprivileged_bpf_disabled") !== 0) {
      assert(/failed to create\s+map: Operation not permitted/.test(noBpf.stderr), noBpf.stderr);
    }
    strictEqual(noBpf.spans.length, 0);
  },
});
