/**
 * Go probe overhead benchmark: the test Go server (tests/targets/go_http,
 * `GET /ok`) loaded by wrk with and without `spanprobe run --probe go --pid`
 * attached (exporting to a loopback count receiver), in alternating rounds.
 * Reports requests/s and p99 latency for each, their same-run ratios, and
 * the eBPF time per request from `kernel.bpf_stats_enabled` (run_time_ns of
 * the agent's go_* programs over the requests served; the setting is
 * restored afterwards), and CPU time per request of the target (uprobe
 * traps are charged to it) and of the agent (/proc/PID/stat). On a shared
 * 2-CPU machine req/s and p99 mostly show CPU contention (wrk, the server,
 * the agent and the receiver share two CPUs); CPU per request is the steadier
 * measure of what the probe costs the traced program.
 *
 *   deno run -A bench/go_bench.ts [--rounds=2] [--seconds=3] [--connections=4]
 *
 * Needs root, go, wrk, clang, bpftool, libbpf.
 * @module
 */
import { parseArgs } from "node:util";
import { buildGoProgram, goTempDir, startGoProgram } from "../tests/support/go_build.ts";
import { ROOT } from "../tests/support/ebpf.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string" }, seconds: { type: "string" }, connections: { type: "string" } },
});
const ROUNDS = Number(values.rounds ?? 2);
const SECONDS = Number(values.seconds ?? 3);
const CONNECTIONS = Number(values.connections ?? 4);
const dec = new TextDecoder();

interface WrkResult {
  requests: number;
  rps: number;
  p99Us: number;
}

async function wrk(url: string): Promise<WrkResult> {
  const out = await new Deno.Command("wrk", {
    args: ["-t1", `-c${CONNECTIONS}`, `-d${SECONDS}s`, "--latency", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = dec.decode(out.stdout);
  if (!out.success) throw new Error(`wrk failed: ${dec.decode(out.stderr)}`);
  const requests = Number(/(\d+) requests in/.exec(text)![1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)![1]);
  const m = /99%\s+([\d.]+)(us|ms|s)/.exec(text)!;
  const p99Us = Number(m[1]) * { us: 1, ms: 1000, s: 1_000_000 }[m[2] as "us" | "ms" | "s"];
  if (/Non-2xx|Socket errors/.test(text)) throw new Error(`wrk saw errors:\n${text}`);
  return { requests, rps, p99Us };
}

interface BpfProg {
  id: number;
  name?: string;
  run_time_ns?: number;
  run_cnt?: number;
}

async function goPrograms(): Promise<BpfProg[]> {
  const out = await new Deno.Command("bpftool", { args: ["prog", "show", "-j"], stdout: "piped" }).output();
  return (JSON.parse(dec.decode(out.stdout)) as BpfProg[]).filter((p) => p.name?.startsWith("go_"));
}

/** run_time_ns and run_cnt summed over the programs `ids` (this bpftool cannot tell a program's owner pid). */
async function bpfRunTime(ids: Set<number>): Promise<{ ns: number; runs: number }> {
  let ns = 0, runs = 0;
  for (const p of await goPrograms()) {
    if (!ids.has(p.id)) continue;
    ns += p.run_time_ns ?? 0;
    runs += p.run_cnt ?? 0;
  }
  return { ns, runs };
}

/** CPU time (user + system) of process `pid` so far, in µs (from /proc/PID/stat, 100 Hz ticks). */
function cpuUs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** wrk plus the CPU time `pids` used during the run, per request (µs). */
async function measured(url: string, pids: number[]): Promise<WrkResult & { cpuUsPerReq: number[] }> {
  const before = pids.map(cpuUs);
  const r = await wrk(url);
  return { ...r, cpuUsPerReq: pids.map((p, i) => (cpuUs(p) - before[i]) / r.requests) };
}

async function startReceiver(): Promise<{ url: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", `${ROOT}bench/support/count_receiver.ts`],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return { url: `http://127.0.0.1:${value!.trim()}`, child };
}

async function startAgent(pid: number, endpoint: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}main.ts`, "run", "--probe", "go", "--pid", String(pid), "--endpoint", endpoint],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/\brunning\b/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`agent exited:\n${text}`);
    text += value;
  }
  // keep draining its log so it never blocks on a full pipe
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return child;
}

const STATS = "/proc/sys/kernel/bpf_stats_enabled";
const statsBefore = Deno.readTextFileSync(STATS).trim();
Deno.writeTextFileSync(STATS, "1");
const dir = await goTempDir();
const receiver = await startReceiver();
const bin = await buildGoProgram("go_http", dir);
const target = await startGoProgram(bin);
const url = `http://127.0.0.1:${target.ready[0]}/ok`;
type Measured = Awaited<ReturnType<typeof measured>>;
const rows: { round: number; off: Measured; on: Measured; bpfNsPerReq: number; runsPerReq: number }[] = [];
try {
  await wrk(url); // warm-up
  for (let round = 1; round <= ROUNDS; round++) {
    const off = await measured(url, [target.pid]);
    const existing = new Set((await goPrograms()).map((p) => p.id));
    const agent = await startAgent(target.pid, receiver.url);
    const mine = new Set((await goPrograms()).map((p) => p.id).filter((id) => !existing.has(id)));
    const before = await bpfRunTime(mine);
    const on = await measured(url, [target.pid, agent.pid]);
    const after = await bpfRunTime(mine);
    agent.kill("SIGTERM");
    await agent.status;
    rows.push({
      round,
      off,
      on,
      bpfNsPerReq: (after.ns - before.ns) / on.requests,
      runsPerReq: (after.runs - before.runs) / on.requests,
    });
  }
} finally {
  Deno.writeTextFileSync(STATS, statsBefore);
  await target.kill();
  receiver.child.kill();
  await receiver.child.status;
  await Deno.remove(dir, { recursive: true });
}

console.log(`Go probe overhead: wrk -t1 -c${CONNECTIONS} -d${SECONDS}s GET /ok, ${Deno.build.arch}`);
console.log(
  "| round | req/s off | req/s on | ratio | p99 off | p99 on | ratio | target CPU µs/req off | on | ratio | agent CPU µs/req | eBPF ns/req | programs run/req |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(
    `| ${r.round} | ${r.off.rps.toFixed(0)} | ${r.on.rps.toFixed(0)} | ${(r.on.rps / r.off.rps).toFixed(2)} | ` +
      `${r.off.p99Us.toFixed(0)} µs | ${r.on.p99Us.toFixed(0)} µs | ${(r.on.p99Us / r.off.p99Us).toFixed(2)} | ` +
      `${r.off.cpuUsPerReq[0].toFixed(1)} | ${r.on.cpuUsPerReq[0].toFixed(1)} | ` +
      `${(r.on.cpuUsPerReq[0] / r.off.cpuUsPerReq[0]).toFixed(2)} | ${r.on.cpuUsPerReq[1].toFixed(1)} | ` +
      `${r.bpfNsPerReq.toFixed(0)} | ${r.runsPerReq.toFixed(2)} |`,
  );
}
