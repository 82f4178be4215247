/**
 * The ring-buffer source under the production permission set: `spanprobe run
 * --probe exec-trace` with exactly the flags `deno task start` derives (FFI,
 * clang and bpftool to build the probe object, nothing more), exporting to a
 * real loopback OTLP receiver.
 */
import assert, { strictEqual } from "node:assert/strict";
import { permissionFlags } from "../lib/permissions.ts";
import { launchEnv, permissionsForRun } from "../scripts/launch.ts";
import { announceSkip, ebpfSkipReason, ROOT } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";

/** Resolves true once `cond` holds, polling the receiver's state (60 s at most, then false). */
async function waitUntil(cond: () => boolean, timeoutMs = 60_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

const skip = announceSkip("ringbuf_sandboxed_cli_test.ts", ebpfSkipReason());

Deno.test({
  name: "exec-trace runs under the launcher's ring-buffer permission set and exports exec spans",
  ignore: skip,
  async fn() {
    const receiver = await startOtlpReceiver();
    try {
      const args = [
        "run",
        "--probe",
        "exec-trace",
        "--endpoint",
        receiver.baseUrl,
      ];
      const options = permissionsForRun(args.slice(1), (k) => Deno.env.get(k));
      const flags = permissionFlags(options);
      assert(flags.includes("--allow-ffi"), "ring-buffer probes get FFI");
      // once the probe is attached ("running"), run a known command a few times
      const marker = `/bin/true`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, `${ROOT}main.ts`, ...args, "--log-format", "json"],
        env: launchEnv(options),
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const killer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      const logs: string[] = [];
      const running = Promise.withResolvers<void>();
      const reading = (async () => {
        let carry = "";
        for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
          const lines = (carry + chunk).split("\n");
          carry = lines.pop()!;
          for (const line of lines) {
            logs.push(line);
            if (JSON.parse(line).msg === "running") running.resolve();
          }
        }
        running.reject(new Error(`the agent ended before running:\n${logs.join("\n")}`));
      })();
      // exec-trace sees every exec on the machine: ours are known by pid
      const pids = new Set<number>();
      try {
        await running.promise;
        for (let i = 0; i < 5; i++) {
          const run = new Deno.Command(marker).spawn();
          pids.add(run.pid);
          await run.status;
        }
        const arrived = await waitUntil(() =>
          receiver.spans.filter((s) => pids.has(Number(s.attributes["process.pid"]))).length >= 5
        );
        assert(arrived, `no 5 exec spans of our pids arrived:\n${logs.join("\n")}`);
      } finally {
        child.kill("SIGTERM"); // the agent exports what it has and exits 0
        await reading;
      }
      const status = await child.status;
      clearTimeout(killer);
      const res = { code: status.code, stderr: logs.join("\n") };
      assert(res.code === 0, `spanprobe exited ${res.code}:\n${res.stderr}`);
      const mine = receiver.spans.filter((s) => pids.has(Number(s.attributes["process.pid"])));
      strictEqual(mine.length, 5, `one exec span per run of ${marker}\n${res.stderr}`);
      for (const s of mine) {
        strictEqual(s.name, "true");
        strictEqual(s.attributes["process.executable.path"], marker);
        strictEqual(Number(s.attributes["process.exit.code"]), 0);
        assert(s.endNs > s.startNs, "ends after it starts");
      }
    } finally {
      await receiver.close();
    }
  },
});
