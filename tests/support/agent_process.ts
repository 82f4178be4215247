/**
 * Test support: the spanprobe CLI as a long-running child process under
 * exactly the launcher's permission flags, started until it logs "running"
 * and stopped with SIGTERM.
 * @module
 */
import { ok } from "node:assert/strict";
import { ROOT, sandboxEnv, sandboxFlags } from "./ebpf.ts";

/** A running agent: its stderr log lines so far, and how to stop it. */
export interface Agent {
  logs: string[];
  /** SIGTERM (unless it exited already) and wait; resolves with the exit code. */
  stop(): Promise<number>;
  /** The exit code once the agent exits by itself. */
  exited: Promise<number>;
}

/** Starts the CLI under the launcher's flags and environment and resolves once it logs "running". */
export async function startAgent(args: string[]): Promise<Agent> {
  const flags = sandboxFlags(args);
  ok(flags.includes("--allow-ffi"), "eBPF probes through libbpf get FFI");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}main.ts`, ...args, "--log-format", "json"],
    stdout: "null",
    stderr: "piped",
    env: sandboxEnv(args),
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const logs: string[] = [];
  let running!: () => void;
  let failed!: (e: Error) => void;
  const started = new Promise<void>((res, rej) => {
    running = res;
    failed = rej;
  });
  const reading = (async () => {
    let carry = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (carry + chunk).split("\n");
      carry = lines.pop()!;
      for (const line of lines) {
        logs.push(line);
        if (line.startsWith("{") && JSON.parse(line).msg === "running") running();
      }
    }
    failed(new Error(`agent exited before running:\n${logs.join("\n")}`));
  })();
  await started;
  const exited = child.status.then(async (s) => {
    await reading;
    clearTimeout(killer);
    return s.code;
  });
  return {
    logs,
    exited,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited already */ }
      return await exited;
    },
  };
}
