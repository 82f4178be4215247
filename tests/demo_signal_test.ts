/**
 * Ctrl-C in the demo (issue 17): `deno task demo` used to die at once with
 * 130/143 while the agent it started went on and printed its summary after
 * the shell prompt was back. Now the demo passes the signal on and exits
 * with the agent's code once the agent has stopped. The real demo script,
 * launcher and agent; bpftrace is a stand-in that replays recorded output
 * and then waits (so no eBPF is needed here).
 */
import { match, strictEqual } from "node:assert/strict";
import { ROOT } from "./support/ebpf.ts";
import { writeReplay } from "./support/replay.ts";

Deno.test("SIGTERM to the demo while it runs: the agent stops in order, the demo exits with its code (0)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-demo-" });
  try {
    await writeReplay(`${dir}/replay.ndjson`, 5);
    const fake = `${dir}/bpftrace`;
    await Deno.writeTextFile(
      fake,
      `#!/bin/sh\necho $$ > '${dir}/pid'\necho "__BPFTRACE_NOTIFY_PROBES_ATTACHED" >&2\ncat '${dir}/replay.ndjson'\nexec sleep 600\n`,
    );
    await Deno.chmod(fake, 0o755);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${ROOT}scripts/demo.ts`, "--bpftrace", fake, "--flush-timeout", "1000"],
      stdout: "piped",
      stderr: "piped",
      env: { INIT_CWD: "" },
    }).spawn();
    const stdout = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const stderr = new Response(child.stderr).text();
    let spans = "";
    while ((spans.match(/^span /gm) ?? []).length < 5) { // every replayed request printed: it runs
      const { value, done } = await stdout.read();
      if (done) break;
      spans += value;
    }
    child.kill("SIGTERM");
    const status = await child.status;
    stdout.releaseLock();
    if (status.code !== 0) {
      // the demo died first (the bug): end the agent it left behind, through its bpftrace
      Deno.kill(Number(Deno.readTextFileSync(`${dir}/pid`)), "SIGTERM");
    }
    const text = await stderr;
    strictEqual(status.code, 0, text);
    match(text, /INFO {2}stopping reason=SIGTERM/);
    match(text, /INFO {2}summary .*spans_exported=5/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
