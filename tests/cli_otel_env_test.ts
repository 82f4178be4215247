/**
 * The standard OTEL_* environment through the real CLI (issue 9 defect 4):
 * a malformed value is warned about, naming the variable, and ignored, as
 * the OpenTelemetry SDK environment spec says; nothing in the environment
 * produces a stack trace or stops the agent.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { runSpanprobe } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { writeFakeBpftrace, writeReplay } from "./support/replay.ts";

Deno.test("malformed OTEL_* variables: each warned about by name and ignored; spans still delivered, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-otelenv-" });
  const receiver = await startOtlpReceiver();
  try {
    const replay = `${dir}/replay.ndjson`;
    await writeReplay(replay, 4);
    const fake = await writeFakeBpftrace(dir, replay);
    const broken: Record<string, string> = {
      OTEL_RESOURCE_ATTRIBUTES: "broken",
      OTEL_EXPORTER_OTLP_TIMEOUT: "ten seconds",
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "grpc",
      OTEL_EXPORTER_OTLP_COMPRESSION: "zip",
      OTEL_EXPORTER_OTLP_HEADERS: "no-equals-sign",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "not a url",
    };
    const r = await runSpanprobe(
      ["run", "--probe", "usdt-requests", "--binary", fake, "--bpftrace", fake],
      { env: { ...broken, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.baseUrl } },
    );
    strictEqual(r.code, 0, r.stderr);
    ok(!/^\s+at /m.test(r.stderr), `no stack trace:\n${r.stderr}`);
    for (const name of Object.keys(broken)) {
      match(r.stderr, new RegExp(`WARN .*${name}\\b.*ignored`), `${name} warned about:\n${r.stderr}`);
    }
    strictEqual(receiver.spans.length, 4, "the generic endpoint applied in place of the ignored traces endpoint");
    strictEqual(receiver.requests[0].contentType, "application/x-protobuf", "the default protocol");
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});
