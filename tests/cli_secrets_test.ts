/**
 * Secrets stay out of logs, argv and bpftrace's environment (issue 9 defect
 * 1, issue 10 item 7): endpoint credentials and query strings are redacted
 * in every log line and error; a collector's error body that echoes a
 * header value is redacted; through the real launcher (`deno task start`),
 * `--header` and `--endpoint` reach the agent by environment, not on its
 * command line, and bpftrace inherits none of the OTLP variables.
 */
import assert, { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { ENV_VARS } from "../lib/permissions.ts";
import { BPFTRACE_ENV_VARS } from "../lib/sources/bpftrace/process.ts";
import { ROOT, runSpanprobe } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { writeFakeBpftrace, writeReplay } from "./support/replay.ts";

async function withFake(pairs: number, fn: (fake: string, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-secrets-" });
  try {
    const replay = `${dir}/replay.ndjson`;
    await writeReplay(replay, pairs);
    await fn(await writeFakeBpftrace(dir, replay), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const probeArgs = (fake: string) => ["--probe", "usdt-requests", "--binary", fake, "--bpftrace", fake];

Deno.test("endpoint credentials and query strings never reach the log (flag, environment, errors)", async () => {
  await withFake(5, async (fake) => {
    const receiver = await startOtlpReceiver();
    const port = receiver.port;
    await receiver.close(); // unreachable: every retry line names the endpoint
    const url = `http://user:s3cretpw@127.0.0.1:${port}/?token=t0kenvalue`;
    const viaFlag = await runSpanprobe([
      "run",
      ...probeArgs(fake),
      "--endpoint",
      url,
      "--flush-timeout",
      "1500",
      "--log-level",
      "debug",
    ]);
    const viaEnv = await runSpanprobe(
      ["run", ...probeArgs(fake), "--flush-timeout", "1500", "--log-level", "debug"],
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: url } },
    );
    const badScheme = await runSpanprobe([
      "run",
      ...probeArgs(fake),
      "--endpoint",
      "ftp://user:s3cretpw@h/?x=t0kenvalue",
    ]);
    strictEqual(badScheme.code, 2, badScheme.stderr);
    for (const r of [viaFlag, viaEnv, badScheme]) {
      match(r.stderr, /REDACTED/);
      ok(!r.stderr.includes("s3cretpw"), r.stderr);
      ok(!r.stderr.includes("t0kenvalue"), r.stderr);
    }
    match(viaFlag.stderr, /not answering/, "the retry lines were logged");
  });
});

Deno.test("a collector's error body that echoes a header value is logged redacted", async () => {
  await withFake(5, async (fake) => {
    const secret = "Bearer ab12cd34ef56secret";
    const receiver = await startOtlpReceiver({
      behavior: { kind: "status", status: 401, body: `invalid authorization header: ${secret}` },
    });
    try {
      const r = await runSpanprobe(["run", ...probeArgs(fake), "--flush-timeout", "500"], {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.baseUrl, OTEL_EXPORTER_OTLP_HEADERS: `authorization=${secret}` },
      });
      strictEqual(r.code, 3, r.stderr);
      strictEqual(receiver.requests[0].headers.authorization, secret, "the header was sent");
      match(r.stderr, /invalid authorization header: REDACTED/);
      ok(!r.stderr.includes("ab12cd34ef56secret"), r.stderr);
    } finally {
      await receiver.close();
    }
  });
});

/** Every descendant of `pid` (reads /proc). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e.name)]);
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const procText = (pid: number, what: "cmdline" | "environ") =>
  Deno.readTextFileSync(`/proc/${pid}/${what}`).replaceAll("\0", " ");

Deno.test("deno task start: --header and --endpoint reach the agent by environment; bpftrace gets no OTLP variables", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-secrets-" });
  const receiver = await startOtlpReceiver();
  try {
    const fifo = `${dir}/output.fifo`;
    strictEqual((await new Deno.Command("mkfifo", { args: [fifo] }).output()).code, 0);
    const fake = await writeFakeBpftrace(dir, fifo);
    const envSecret = "envsecret-0123456789";
    const argSecret = "argsecret-9876543210";
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "start",
        ...probeArgs(fake),
        "--endpoint",
        receiver.baseUrl,
        "--header",
        `x-api-key=${argSecret}`,
        "--service-name",
        "secrets-test",
      ],
      cwd: ROOT,
      env: { OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${envSecret}` },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    // the agent is running once its bpftrace stand-in blocks on the FIFO
    let agent: number | undefined;
    let bpftrace: number | undefined;
    for (let i = 0; i < 600 && bpftrace === undefined; i++) {
      for (const pid of descendants(child.pid)) {
        try {
          const cmd = procText(pid, "cmdline");
          if (cmd.includes("main.ts") && cmd.includes("secrets-test")) agent = pid;
          if (cmd.startsWith("cat ") && cmd.includes(fifo)) bpftrace = pid;
        } catch { /* exited */ }
      }
      if (bpftrace === undefined) await new Promise((r) => setTimeout(r, 50)); // polling /proc: no event to await
    }
    assert(agent !== undefined && bpftrace !== undefined, "agent and its bpftrace found");
    const agentCmd = procText(agent, "cmdline");
    ok(!agentCmd.includes(argSecret), `no header value on the agent's command line: ${agentCmd}`);
    ok(!agentCmd.includes(receiver.baseUrl), "nor the endpoint");
    const bpftraceEnv = procText(bpftrace, "environ");
    ok(!bpftraceEnv.includes("OTEL_"), `bpftrace has no OTEL_ variable: ${bpftraceEnv}`);
    ok(!bpftraceEnv.includes(envSecret) && !bpftraceEnv.includes(argSecret), "nor any secret");
    ok(!bpftraceEnv.includes("SPANPROBE_HEADERS"), "nor the launcher's hand-over");
    await writeReplay(fifo, 3);
    const res = await output;
    const stderr = new TextDecoder().decode(res.stderr);
    strictEqual(res.code, 0, stderr);
    deepStrictEqual(receiver.spans.length, 3);
    strictEqual(receiver.requests[0].headers["x-api-key"], argSecret, "the --header value was used");
    strictEqual(receiver.requests[0].headers.authorization, `Bearer ${envSecret}`);
    ok(!stderr.includes(envSecret), `the documented way (environment) echoes no secret:\n${stderr}`);
    match(stderr, /--header values on the command line are visible/);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the agent may read every variable it passes on to bpftrace", () => {
  for (const name of BPFTRACE_ENV_VARS) ok(ENV_VARS.includes(name), `${name} in ENV_VARS (lib/permissions.ts)`);
});
