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
        "--duration",
        "5",
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
      let carry = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        const lines = (carry + chunk).split("\n");
        carry = lines.pop()!;
        for (const line of lines) {
          logs.push(line);
          if (JSON.parse(line).msg === "running") {
            for (let i = 0; i < 5; i++) await new Deno.Command(marker).output();
          }
        }
      }
      const status = await child.status;
      clearTimeout(killer);
      const res = { code: status.code, stderr: logs.join("\n") };
      assert(res.code === 0, `spanprobe exited ${res.code}:\n${res.stderr}`);
      const mine = receiver.spans.filter((s) => s.attributes["process.executable.path"] === marker);
      assert(mine.length >= 5, `expected ≥ 5 exec spans of ${marker}, got ${mine.length}\n${res.stderr}`);
      for (const s of mine) {
        strictEqual(s.name, "true");
        strictEqual(Number(s.attributes["process.exit.code"]), 0);
        assert(s.endNs > s.startNs && s.endNs - s.startNs < 5_000_000_000n, "plausible duration");
      }
    } finally {
      await receiver.close();
    }
  },
});
