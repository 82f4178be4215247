/**
 * The traced Go program never crashes: at least 10,000 requests (ab, 8
 * keep-alive connections) while the Go probe is attached and detached three
 * times through the CLI, so uprobes are inserted into and removed from
 * running code under load. Every request must succeed, the program must
 * still be alive, and every span received must be a well-formed `GET /ok`.
 * SPANPROBE_LONG_TESTS=1 runs 100,000 requests and ten cycles.
 */
import { ok, strictEqual } from "node:assert/strict";
import { startAgent } from "./support/agent_process.ts";
import { ebpfSkipReason } from "./support/ebpf.ts";
import {
  buildGoProgram,
  goSkipReason,
  goTempDir,
  requireRunnable,
  skipGoTest,
  startGoProgram,
} from "./support/go_build.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";

const reason = ebpfSkipReason() ?? goSkipReason();
const skip = skipGoTest("go_stability_test.ts", reason);
const LONG = Deno.env.get("SPANPROBE_LONG_TESTS") === "1";
const REQUESTS = LONG ? 100_000 : 10_000;
const CYCLES = LONG ? 10 : 3;

Deno.test({
  name: `go probe: ${REQUESTS} requests under load with ${CYCLES} attach/detach cycles; the target never crashes`,
  ignore: skip,
  async fn() {
    requireRunnable(reason);
    const dir = await goTempDir();
    const receiver = await startOtlpReceiver();
    try {
      const bin = await buildGoProgram("go_http", dir);
      const target = await startGoProgram(bin);
      let exited = false;
      target.child.status.then(() => exited = true);
      const url = `http://127.0.0.1:${target.ready[0]}/ok`;
      let done = 0;
      let failed = 0;
      let cyclesDone = 0;
      // the load runs in ab processes (8 connections, keep-alive), so this process stays free to
      // receive the agent's spans (a starved receiver would make the agent's shutdown flush miss)
      const ab = async () => {
        const out = await new Deno.Command("ab", {
          args: ["-q", "-k", "-n", "2000", "-c", "8", url],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout);
        const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN);
        ok(
          out.success && Number.isFinite(num("Complete requests")),
          `ab failed:\n${text}${new TextDecoder().decode(out.stderr)}`,
        );
        done += num("Complete requests");
        failed += num("Failed requests") + (Number.isFinite(num("Non-2xx responses")) ? num("Non-2xx responses") : 0);
      };
      const load = (async () => {
        while (done < REQUESTS || cyclesDone < CYCLES) await ab();
      })();
      try {
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          const before = receiver.spans.length;
          const agent = await startAgent([
            "run",
            "--probe",
            "go",
            "--pid",
            String(target.pid),
            "--endpoint",
            receiver.baseUrl,
          ]);
          // spans from this attachment arrive while the load runs
          await receiver.waitForSpans(before + 100, 30_000);
          strictEqual(await agent.stop(), 0, agent.logs.join("\n"));
          ok(!exited, `the target died during cycle ${cycle + 1}`);
          cyclesDone++;
        }
        await load;
      } finally {
        cyclesDone = CYCLES;
        await load.catch(() => {});
      }
      ok(done >= REQUESTS, `${done} requests`);
      strictEqual(failed, 0, `${failed} of ${done} requests failed`);
      ok(!exited, "the target is alive");
      strictEqual((await fetch(url)).status, 200);
      for (const s of receiver.spans) {
        strictEqual(s.name, "GET /ok");
        strictEqual(s.attributes["http.response.status_code"], 200);
        ok(s.endNs > s.startNs, "positive duration");
      }
      console.log(`  ${done} requests, ${receiver.spans.length} spans over ${CYCLES} attachments, 0 failures`);
      const status = await target.kill();
      strictEqual(status.signal, "SIGKILL", "the target ran until the test killed it");
    } finally {
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
