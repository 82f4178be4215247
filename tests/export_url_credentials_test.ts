/**
 * An endpoint with credentials (`http://user:pass@collector:4318`), as a new
 * user may write it (issue 17): the collector gets one `Authorization`
 * header — `Basic` from the URL, or the user's own `authorization` header,
 * which wins. Before, fetch sent both as `Basic …, Bearer …`, which no
 * collector accepts. The real OTLP sender and CLI, the real loopback
 * receiver.
 */
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { sendOtlpRequest } from "../lib/export/otlp_send.ts";
import { ROOT, runSpanprobe } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { writeFakeBpftrace, writeReplay } from "./support/replay.ts";

const basic = (pair: string) => `Basic ${btoa(pair)}`;

Deno.test("URL credentials become one Basic header; a given authorization header wins alone", async () => {
  const receiver = await startOtlpReceiver();
  try {
    const withUser = receiver.url.replace("http://", "http://us%40er:p%3Ass@");
    const body = new Uint8Array(0);
    const a = await sendOtlpRequest({ url: withUser, protocol: "http/protobuf", body });
    const b = await sendOtlpRequest({
      url: withUser,
      protocol: "http/protobuf",
      body,
      headers: { Authorization: "Bearer T0KEN" },
    });
    const c = await sendOtlpRequest({ url: receiver.url, protocol: "http/protobuf", body });
    deepStrictEqual([a.ok, b.ok, c.ok], [true, true, true]);
    deepStrictEqual(receiver.requests.map((r) => r.headers.authorization), [
      basic("us@er:p:ss"),
      "Bearer T0KEN",
      undefined,
    ]);
  } finally {
    await receiver.close();
  }
});

Deno.test("spanprobe run --endpoint http://user:pw@… --header authorization=…: the collector sees the header only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-creds-" });
  const receiver = await startOtlpReceiver();
  try {
    await writeReplay(`${dir}/replay.ndjson`, 5);
    const fake = await writeFakeBpftrace(dir, `${dir}/replay.ndjson`);
    const endpoint = receiver.baseUrl.replace("http://", "http://user:S3cretPW@");
    const r = await runSpanprobe([
      "run",
      "--probe",
      "usdt-requests",
      "--binary",
      fake,
      "--bpftrace",
      fake,
      "--metrics",
      "off",
      "--endpoint",
      endpoint,
      "--header",
      "authorization=Bearer TOPSECRET",
    ]);
    strictEqual(r.code, 0, r.stderr);
    strictEqual(receiver.spans.length, 5);
    deepStrictEqual([...new Set(receiver.requests.map((q) => q.headers.authorization))], ["Bearer TOPSECRET"]);
    strictEqual(/TOPSECRET|S3cretPW/.test(r.stderr), false, r.stderr);
    match(r.stderr, /WARN {2}credentials in --endpoint are visible in the process list/);
    // through the launcher (deno task start), which moves the endpoint out of the agent's argv
    const launch = async (args: string[], env: Record<string, string>) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}scripts/launch.ts`, "--probe", "usdt-requests", "--binary", fake, ...args],
        env: { INIT_CWD: "", ...env },
        stdout: "null",
        stderr: "piped",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    const loud = await launch(["--bpftrace", fake, "--metrics", "off", "--endpoint", endpoint], {});
    strictEqual(loud.code, 0, loud.stderr);
    match(loud.stderr, /^spanprobe: warning: credentials in --endpoint are visible in the process list/m);
    const quiet = await launch(["--bpftrace", fake, "--metrics", "off"], { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    strictEqual(quiet.code, 0, quiet.stderr);
    strictEqual(
      /credentials in --endpoint/.test(quiet.stderr),
      false,
      `the environment is the place:\n${quiet.stderr}`,
    );
    strictEqual(/S3cretPW/.test(loud.stderr + quiet.stderr), false);
    strictEqual(receiver.spans.length, 15);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});
