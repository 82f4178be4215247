/**
 * Test support for the zero-code HTTP tests: start real servers (Python,
 * Flask, Node, Go) on ephemeral loopback ports, start spanprobe under the
 * launcher's permission set and wait for it to be attached, and await
 * conditions instead of sleeping.
 * @module
 */
import { ROOT, sandboxEnv, sandboxFlags } from "./ebpf.ts";

/** A started target server. */
export interface Target {
  pid: number;
  port: number;
  /** SIGTERM, then wait for it to exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `cmd args` and waits for it to print `PORT <n>` on stdout (its
 * listening port). Stderr is kept for error messages.
 */
export async function startTarget(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<Target> {
  const child = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped", stdin: "null" }).spawn();
  const errText = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, timeoutMs);
  let port = 0;
  try {
    while (!port) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${cmd} ${args.join(" ")} exited before listening:\n${text}\n${await errText}`);
      text += value;
      const m = /PORT (\d+)/.exec(text);
      if (m) port = Number(m[1]);
    }
  } finally {
    clearTimeout(timer);
  }
  // keep draining stdout so the target never blocks on a full pipe
  (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* closed */ }
  })();
  return {
    pid: child.pid,
    port,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }, 5000);
      await child.status;
      clearTimeout(killer);
      await errText.catch(() => "");
    },
  };
}

/** A running agent. */
export interface Agent {
  /** JSON log lines so far. */
  readonly logs: Record<string, unknown>[];
  /** SIGTERM, wait for exit; the exit code and the stderr text. */
  stop(): Promise<{ code: number; stderr: string }>;
}

/**
 * Starts `spanprobe ARGS --log-format json` under the launcher's permission
 * set and environment for those arguments and waits for its "running" log line.
 */
export async function startAgent(args: string[], env: Record<string, string> = {}): Promise<Agent> {
  const all = [...args, "--log-format", "json"];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...sandboxFlags(all, env), `${ROOT}main.ts`, ...all],
    env: { ...sandboxEnv(all, env), ...env }, // what the launcher adds (the build cache folder)
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const logs: Record<string, unknown>[] = [];
  const lines: string[] = [];
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }, 180_000);
  let resolveRunning!: () => void;
  let rejectRunning!: (e: Error) => void;
  const running = new Promise<void>((res, rej) => {
    resolveRunning = res;
    rejectRunning = rej;
  });
  const reading = (async () => {
    let carry = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      const parts = (carry + chunk).split("\n");
      carry = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        try {
          const rec = JSON.parse(line);
          logs.push(rec);
          if (rec.msg === "running") resolveRunning();
        } catch { /* not JSON (e.g. a usage error) */ }
      }
    }
    if (carry) lines.push(carry);
    rejectRunning(new Error(`spanprobe exited before running:\n${lines.join("\n")}`));
  })();
  await running;
  return {
    logs,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      const status = await child.status;
      clearTimeout(killer);
      await reading;
      await stdout;
      return { code: status.code, stderr: lines.join("\n") };
    },
  };
}

/** Polls `cond` every 20 ms until true; throws `what` after `timeoutMs` (monotonic clock: a wall-clock step cannot end it). */
export async function waitUntil(cond: () => boolean, what: () => string, timeoutMs = 20_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The final `summary` log record of an agent's stderr. */
export function summaryOf(stderr: string): Record<string, number> {
  for (const line of stderr.split("\n").reverse()) {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === "summary") return rec;
    } catch { /* skip */ }
  }
  return {};
}
