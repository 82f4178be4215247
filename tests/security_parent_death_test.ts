/**
 * Issue 10 item 6: nothing outlives its parent. SIGKILL of the launcher
 * (`deno task start` = scripts/launch.ts) ends the agent (its stdin pipe from
 * the launcher closes; it stops as on SIGTERM, flushing and stopping
 * bpftrace), and SIGKILL of the agent ends bpftrace (heartbeat → EPIPE).
 * Real launcher, real permission flags, real bpftrace on a USDT target.
 */
import assert, { strictEqual } from "node:assert/strict";
import { announceSkip, buildTarget, ebpfSkipReason, ROOT } from "./support/ebpf.ts";

const skip = announceSkip("security_parent_death_test.ts", ebpfSkipReason());

interface Log {
  msg: string;
  [k: string]: unknown;
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie has ended
  } catch {
    return false;
  }
}

/** The children of `pid` (from /proc/PID/task/TID/children). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/children`).trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

/** Resolves once `pid` has ended; fails after `ms`. Polls /proc: the process is not ours to wait for. */
async function ended(pid: number, ms: number, what: string): Promise<void> {
  const until = performance.now() + ms;
  while (alive(pid)) {
    assert(performance.now() < until, `${what} (pid ${pid}) still running after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts the real launcher on the usdt-requests probe; resolves when the agent runs. */
async function startLaunched() {
  const target = await buildTarget("usdt_requests");
  const launcher = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}scripts/launch.ts`,
      "run",
      "--probe",
      "usdt-requests",
      "--binary",
      target,
      "--log-format",
      "json",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: Log[] = [];
  const lines = launcher.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let carry = "";
  const next = async (pred: (l: Log) => boolean): Promise<Log | undefined> => {
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      const { value, done } = await lines.read();
      if (done) return undefined;
      const parts = (carry + value).split("\n");
      carry = parts.pop()!;
      for (const p of parts) if (p.startsWith("{")) logs.push(JSON.parse(p));
    }
  };
  const attached = await next((l) => l.msg === "probes attached");
  const running = await next((l) => l.msg === "running");
  assert(attached && running, `the agent did not start:\n${JSON.stringify(logs)}${carry}`);
  const [agent] = childrenOf(launcher.pid);
  assert(agent, "no agent process under the launcher");
  return { launcher, agent, bpftrace: attached.bpftrace_pid as number, logs, next };
}

Deno.test({
  name: "SIGKILL of the launcher ends the agent (a clean stop: bpftrace stopped, summary written)",
  ignore: skip,
  async fn() {
    const { launcher, agent, bpftrace, next } = await startLaunched();
    try {
      launcher.kill("SIGKILL");
      strictEqual((await launcher.status).signal, "SIGKILL");
      // the agent's log goes on on the same stderr pipe until it exits
      const stopping = await next((l) => l.msg === "stopping");
      strictEqual(stopping?.reason, "launcher gone");
      const summary = await next((l) => l.msg === "summary");
      assert(summary, "the agent wrote no summary");
      strictEqual(summary.spans_unaccounted, 0);
      strictEqual(await next(() => false), undefined, "stderr closed: every holder of it has exited");
      await ended(agent, 10_000, "the agent");
      await ended(bpftrace, 5_000, "bpftrace");
    } finally {
      for (const pid of [agent, bpftrace]) {
        try {
          if (alive(pid)) Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
  },
});

Deno.test({
  name: "SIGKILL of the agent ends its bpftrace",
  ignore: skip,
  async fn() {
    const { launcher, agent, bpftrace } = await startLaunched();
    try {
      Deno.kill(agent, "SIGKILL");
      await launcher.status;
      await ended(bpftrace, 5_000, "bpftrace");
    } finally {
      for (const pid of [agent, bpftrace]) {
        try {
          if (alive(pid)) Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      try {
        launcher.kill("SIGKILL");
      } catch { /* exited */ }
      await launcher.stderr.cancel().catch(() => {});
    }
  },
});
