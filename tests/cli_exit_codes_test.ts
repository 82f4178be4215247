/**
 * Exit codes of a run whose output fails (issue 9, defect 2): unwritable
 * file outputs are refused before anything is attached (exit 2); a
 * collector that is unreachable or refuses every batch (401) at exit makes
 * the run exit 3 after the refusal was logged once with its status and
 * message; a collector that was down and came back is not an error (exit 0).
 * The real CLI under the launcher's permission set, replaying recorded
 * bpftrace output (tests/support/replay.ts) into the real loopback
 * OTLP receiver.
 */
import assert, { match, strictEqual } from "node:assert/strict";
import { announceSkip, runSpanprobe } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { writeFakeBpftrace, writeReplay } from "./support/replay.ts";

async function withReplay(pairs: number, fn: (run: (extra: string[]) => string[]) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-exit-" });
  try {
    const replay = `${dir}/replay.ndjson`;
    await writeReplay(replay, pairs);
    const fake = await writeFakeBpftrace(dir, replay);
    await fn((extra) => [
      "run",
      "--probe",
      "usdt-requests",
      "--binary",
      fake,
      "--bpftrace",
      fake,
      "--flush-timeout",
      "500",
      ...extra,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("--output file: a folder or a missing folder is refused before attaching (exit 2)", async () => {
  await withReplay(10, async (run) => {
    for (const path of ["/tmp", "/nonexistent-spanprobe/x.json"]) {
      const r = await runSpanprobe(run(["--output", `file:${path}`]));
      strictEqual(r.code, 2, `${path}: ${r.stderr}`);
      match(r.stderr, new RegExp(`--output file:${path}: (is a directory|its folder does not exist)`));
      assert(!/probes attached|running/.test(r.stderr), `nothing attached for ${path}: ${r.stderr}`);
    }
  });
});

Deno.test("an unreachable collector at exit: spans lost, exit 3", async () => {
  await withReplay(20, async (run) => {
    const receiver = await startOtlpReceiver();
    const endpoint = receiver.baseUrl;
    await receiver.close(); // nothing listens on this port now
    const r = await runSpanprobe(run(["--endpoint", endpoint]));
    strictEqual(r.code, 3, r.stderr);
    match(r.stderr, /spans were lost because the output is failing .*not answering/);
  });
});

Deno.test("a collector refusing every batch (401): logged once with status and message, exit 3", async () => {
  await withReplay(1200, async (run) => {
    const receiver = await startOtlpReceiver({
      behavior: { kind: "status", status: 401, body: "token expired for tenant t1" },
    });
    try {
      const r = await runSpanprobe(run(["--endpoint", receiver.baseUrl]));
      strictEqual(r.code, 3, r.stderr);
      assert(receiver.requests.length >= 2, `several batches refused (${receiver.requests.length})`);
      const refusals = r.stderr.split("\n").filter((l) => l.includes("refused a batch"));
      strictEqual(refusals.length, 1, `one refusal line:\n${r.stderr}`);
      match(refusals[0], /ERROR/);
      match(refusals[0], /status=401/);
      match(refusals[0], /token expired for tenant t1/);
    } finally {
      await receiver.close();
    }
  });
});

Deno.test("a collector that was down and came back: exit 0, everything delivered", async () => {
  await withReplay(20, async (run) => {
    const receiver = await startOtlpReceiver({ behavior: [{ kind: "status", status: 503, times: 1 }, "ok"] });
    try {
      const r = await runSpanprobe(run(["--endpoint", receiver.baseUrl, "--flush-timeout", "5000"]));
      strictEqual(r.code, 0, r.stderr);
      strictEqual(receiver.spans.length, 20);
    } finally {
      await receiver.close();
    }
  });
});

const notRoot = announceSkip(
  "cli_exit_codes_test.ts (full disk)",
  Deno.uid() === 0 ? undefined : "not root: mounting a tiny tmpfs needs root",
);

Deno.test({
  name: "a file output whose disk is full: spans lost, exit 3",
  ignore: notRoot,
  async fn() {
    await withReplay(200, async (run) => {
      const mnt = await Deno.makeTempDir({ prefix: "spanprobe-full-" });
      const mount = (args: string[]) => new Deno.Command(args[0], { args: args.slice(1) }).output();
      strictEqual((await mount(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt])).code, 0, "mount tmpfs");
      try {
        // fill it, leaving the output file creatable (start-up check) but nothing writable
        await Deno.writeFile(`${mnt}/filler`, new Uint8Array(64 * 1024)).catch(() => {});
        const r = await runSpanprobe(run(["--output", `file:${mnt}/spans.json`]));
        strictEqual(r.code, 3, r.stderr);
        match(r.stderr, /spans were lost because the output is failing .*failed: .*No space left/);
      } finally {
        await mount(["umount", mnt]);
        await Deno.remove(mnt, { recursive: true });
      }
    });
  },
});
