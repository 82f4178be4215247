/**
 * Overhead of the zero-code HTTP probe on a traced server, in one run:
 *
 * - a Go 1.19 net/http server (built into a temp folder) answers
 *   `GET /items/1` on loopback; wrk (`-t1 -c8 --latency`) loads it for
 *   `--seconds` (default 5) per phase;
 * - phases alternate without and with the agent (`spanprobe run --probe http
 *   --open-port PORT`, exporting to a loopback counting receiver): off, on,
 *   off, on, ... (`--rounds`, default 2) so that load from other users of the
 *   machine hits both alike; medians are reported with their same-run ratio;
 * - eBPF time: with `kernel.bpf_stats_enabled=1` (set for the run, restored
 *   after), run_time_ns / run_cnt of the agent's own programs (the ids that
 *   appeared when it attached) are read before and after each loaded phase
 *   and divided by the requests wrk completed. The programs also run (a
 *   hash lookup, then return) on every other process's socket calls, so an
 *   idle window of the same length is measured too and its cost subtracted
 *   for the per-request figure.
 *
 *   deno run -A bench/http_bench.ts [--seconds 5] [--rounds 2]
 * @module
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const dec = new TextDecoder();

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : fallback;
}

const SECONDS = Number(arg("seconds", "5"));
const ROUNDS = Number(arg("rounds", "2"));

async function run(cmd: string, args: string[], opts: Deno.CommandOptions = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", ...opts }).output();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Reads lines from a child's stream until `match` is found; returns the match. */
async function waitFor(stream: ReadableStream<Uint8Array>, match: RegExp): Promise<RegExpExecArray> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${match}:\n${text}`);
    text += value;
    const m = match.exec(text);
    if (m) {
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })().catch(() => {});
      return m;
    }
  }
}

interface WrkResult {
  rps: number;
  p99Ms: number;
  requests: number;
}

function ms(value: string, unit: string): number {
  const v = Number(value);
  return unit === "us" ? v / 1000 : unit === "s" ? v * 1000 : v;
}

async function wrk(url: string): Promise<WrkResult> {
  const text = await run("wrk", ["-t1", "-c8", `-d${SECONDS}s`, "--latency", url]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(text);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  if (!rps || !p99 || !requests) throw new Error(`cannot read wrk output:\n${text}`);
  return { rps, p99Ms: ms(p99[1], p99[2]), requests };
}

interface ProgStat {
  id: number;
  name: string;
  runTimeNs: number;
  runCnt: number;
}

async function progs(): Promise<ProgStat[]> {
  const list = JSON.parse(await run("bpftool", ["prog", "show", "-j"])) as Record<string, unknown>[];
  return list.map((p) => ({
    id: Number(p.id),
    name: String(p.name ?? ""),
    runTimeNs: Number(p.run_time_ns ?? 0),
    runCnt: Number(p.run_cnt ?? 0),
  }));
}

async function ebpfTotals(ids: Set<number>): Promise<{ ns: number; cnt: number }> {
  let ns = 0, cnt = 0;
  for (const p of await progs()) {
    if (!ids.has(p.id)) continue;
    ns += p.runTimeNs;
    cnt += p.runCnt;
  }
  return { ns, cnt };
}

function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime in clock ticks (100 Hz)
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface OnPhase extends WrkResult {
  ebpfNsPerRequest: number;
  ebpfNsPerRequestNet: number;
  ebpfCallsPerRequest: number;
  agentCpuUsPerRequest: number;
  spans: number;
}

async function main(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-http-bench-" });
  const statsPath = "/proc/sys/kernel/bpf_stats_enabled";
  const statsBefore = Deno.readTextFileSync(statsPath).trim();
  Deno.writeTextFileSync(statsPath, "1");
  const children: Deno.ChildProcess[] = [];
  try {
    await run("go", ["build", "-o", `${dir}/go_http_server`, `${ROOT}tests/targets/http_server_go.go`], { cwd: dir });
    const server = new Deno.Command(`${dir}/go_http_server`, { stdout: "piped", stderr: "null" }).spawn();
    children.push(server);
    const port = Number((await waitFor(server.stdout, /PORT (\d+)/))[1]);
    const receiver = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}bench/support/count_receiver.ts`],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    children.push(receiver);
    const receiverPort = Number((await waitFor(receiver.stdout, /(\d+)/))[1]);
    const url = `http://127.0.0.1:${port}/items/1`;
    await wrk(url); // warm-up (Go runtime, page cache)

    const off: WrkResult[] = [];
    const on: OnPhase[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      off.push(await wrk(url));
      const before = new Set((await progs()).map((p) => p.id));
      const agent = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          `${ROOT}main.ts`,
          "run",
          "--probe",
          "http",
          "--open-port",
          String(port),
          "--endpoint",
          `http://127.0.0.1:${receiverPort}`,
          "--log-format",
          "json",
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const [logs, logsTee] = agent.stderr.tee();
      const summaryText = new Response(logsTee).text();
      await waitFor(logs, /"msg":"running"/);
      const mine = new Set(
        (await progs()).filter((p) => !before.has(p.id) && p.name.startsWith("http_")).map((p) => p.id),
      );
      if (mine.size !== 29) console.warn(`warning: ${mine.size} new http_ programs (another agent started?)`);
      // background: the same programs on everyone else's socket calls, no load on our server
      const idle0 = await ebpfTotals(mine);
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      const idle1 = await ebpfTotals(mine);
      const cpu0 = cpuMs(agent.pid);
      const t0 = await ebpfTotals(mine);
      const w = await wrk(url);
      const t1 = await ebpfTotals(mine);
      const cpu1 = cpuMs(agent.pid);
      agent.kill("SIGTERM");
      await agent.status;
      const summaryLine = (await summaryText).split("\n").find((l) => l.includes('"msg":"summary"'));
      const summary = summaryLine ? JSON.parse(summaryLine) : {};
      const ns = t1.ns - t0.ns;
      const background = idle1.ns - idle0.ns;
      on.push({
        ...w,
        ebpfNsPerRequest: ns / w.requests,
        ebpfNsPerRequestNet: Math.max(0, ns - background) / w.requests,
        ebpfCallsPerRequest: (t1.cnt - t0.cnt) / w.requests,
        agentCpuUsPerRequest: ((cpu1 - cpu0) * 1000) / w.requests,
        spans: Number(summary.spans_exported ?? 0),
      });
    }
    const rOff = median(off.map((x) => x.rps)), rOn = median(on.map((x) => x.rps));
    const pOff = median(off.map((x) => x.p99Ms)), pOn = median(on.map((x) => x.p99Ms));
    const f = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
    console.log(`\nzero-code HTTP overhead: Go net/http, wrk -t1 -c8, ${SECONDS} s phases, ${ROUNDS} rounds (medians)`);
    console.log(`| | without agent | with agent | ratio |`);
    console.log(`|---|---|---|---|`);
    console.log(`| requests/s | ${f(rOff)} | ${f(rOn)} | ${f(rOn / rOff, 2)} |`);
    console.log(`| p99 latency (ms) | ${f(pOff, 2)} | ${f(pOn, 2)} | ${f(pOn / pOff, 2)} |`);
    console.log(
      `| eBPF ns per request (all hits / minus idle background) | – | ${
        f(median(on.map((x) => x.ebpfNsPerRequest)))
      } / ${f(median(on.map((x) => x.ebpfNsPerRequestNet)))} | |`,
    );
    console.log(`| eBPF program runs per request | – | ${f(median(on.map((x) => x.ebpfCallsPerRequest)), 1)} | |`);
    console.log(`| agent CPU µs per request | – | ${f(median(on.map((x) => x.agentCpuUsPerRequest)), 1)} | |`);
    console.log(`| spans exported / requests (last round) | – | ${on.at(-1)!.spans} / ${on.at(-1)!.requests} | |`);
    console.log(
      `rounds: off ${off.map((x) => f(x.rps)).join(", ")} req/s; on ${on.map((x) => f(x.rps)).join(", ")} req/s`,
    );
  } finally {
    for (const c of children) {
      try {
        c.kill("SIGTERM");
      } catch { /* exited */ }
      await c.status;
    }
    Deno.writeTextFileSync(statsPath, statsBefore);
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
