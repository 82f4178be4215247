/**
 * Encoder throughput: our OTLP protobuf and JSON encoders against the
 * OpenTelemetry JS reference serializers, on 10 000 typical spans (five
 * attributes, half with a parent, one in ten with an error status).
 *
 *     deno bench -A bench/export_bench.ts
 *
 * Spans per second = 10 000 / (time per iteration).
 * @module
 */
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { encodeOtlpTraceJsonBytes } from "../lib/export/otlp_json.ts";
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import { newSpanId, newTraceId } from "../lib/core/ids.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { toReferenceSpans } from "../tests/support/otlp_receiver.ts";

const N = 10_000;
const VERSION = "0.1.0";
const resource = { attributes: { "service.name": "bench", "host.name": "node-1", "process.pid": 4242 } };

function typicalSpans(n: number): SpanData[] {
  const spans: SpanData[] = [];
  let t = 1795313354907507123n;
  for (let i = 0; i < n; i++) {
    const failed = i % 10 === 0;
    spans.push({
      traceId: newTraceId(),
      spanId: newSpanId(),
      parentSpanId: i % 2 ? newSpanId() : undefined,
      name: "read",
      kind: 1,
      startNs: t,
      endNs: t + 25_034n,
      attributes: {
        "process.pid": 4321 + (i % 50),
        "thread.id": 4400 + (i % 200),
        "file.path": `/var/lib/data/file${i}`,
        "fd": 7,
        "bytes": 4096,
      },
      status: failed ? { code: 2, message: "EIO" } : { code: 0 },
      resource,
    });
    t += 100_000n;
  }
  return spans;
}

const spans = typicalSpans(N);
const reference = toReferenceSpans(spans, VERSION);

Deno.bench("protobuf: spanprobe encoder (10k spans)", { group: "protobuf", baseline: true }, () => {
  encodeOtlpTraceProto(spans, VERSION);
});

Deno.bench("protobuf: otlp-transformer ProtobufTraceSerializer (10k spans)", { group: "protobuf" }, () => {
  ProtobufTraceSerializer.serializeRequest(reference);
});

Deno.bench("json: spanprobe encoder (10k spans)", { group: "json", baseline: true }, () => {
  encodeOtlpTraceJsonBytes(spans, VERSION);
});

Deno.bench("json: otlp-transformer JsonTraceSerializer (10k spans)", { group: "json" }, () => {
  JsonTraceSerializer.serializeRequest(reference);
});
