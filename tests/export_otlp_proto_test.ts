import { deepStrictEqual, strictEqual } from "node:assert";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { span } from "./support/spans.ts";
import {
  decodeTraceRequestProto,
  decodeWire,
  expectedRequest,
  flattenSpans,
  randomSpans,
  sampleSpans,
  toReferenceSpans,
} from "./support/otlp_receiver.ts";

const VERSION = "0.1.0";

function decodeOurs(spans: SpanData[], version = VERSION) {
  return decodeTraceRequestProto(encodeOtlpTraceProto(spans, version));
}

function decodeReference(spans: SpanData[], version = VERSION) {
  const bytes = ProtobufTraceSerializer.serializeRequest(
    toReferenceSpans(spans, version),
  );
  if (!bytes) throw new Error("reference serializer returned nothing");
  return decodeTraceRequestProto(bytes);
}

Deno.test("proto: every field decodes to the documented mapping", () => {
  const spans = sampleSpans();
  deepStrictEqual(decodeOurs(spans), expectedRequest(spans, VERSION));
});

Deno.test("proto: fields of one span, checked one by one", () => {
  const [s] = flattenSpans(decodeOurs(sampleSpans()));
  strictEqual(s.traceId, "0af7651916cd43dd8448eb211c80319c");
  strictEqual(s.spanId, "b7ad6b7169203331");
  strictEqual(s.parentSpanId, "00f067aa0ba902b7");
  strictEqual(s.name, "GET /cart");
  strictEqual(s.kind, 2);
  strictEqual(s.startNs, 1795313354907507123n);
  strictEqual(s.endNs, 1795313354910010126n);
  strictEqual(s.flags, 257);
  deepStrictEqual(s.status, { code: 2, message: "upstream failed: 503" });
  deepStrictEqual(s.scope, { name: "spanprobe", version: VERSION });
  deepStrictEqual(s.resource, {
    "service.name": "checkout",
    "host.name": "node-1",
    "process.pid": 4242,
  });
  const a = s.attributes;
  strictEqual(a["str"], "value");
  strictEqual(a["empty"], "");
  strictEqual(a["unicode"], "héllo ✓ 😀");
  strictEqual(
    a["escapes"],
    'quote" backslash\\ newline\n tab\t nul\u0000 del\u007f',
  );
  strictEqual(a["t"], true);
  strictEqual(a["f"], false);
  strictEqual(a["int"], 42);
  strictEqual(a["neg"], -7);
  strictEqual(a["big.safe"], 9007199254740991);
  strictEqual(a["double"], 1.5);
  strictEqual(a["tiny"], 5e-324);
  strictEqual(a["bigint"], 12345);
  strictEqual(a["bigint.neg"], -98765);
  deepStrictEqual(a["bytes"], new Uint8Array([0, 1, 2, 253, 254, 255]));
  deepStrictEqual(a["arr.mixed"], [1, "x", true, 2.5, new Uint8Array([9])]);
  deepStrictEqual(a["arr.nested"], [["in", 1], []]);
  deepStrictEqual(s.events, [
    {
      name: "exception",
      timeNs: 1795313354908000001n,
      attributes: { "exception.type": "Error", "retry": 3 },
    },
    { name: "no attributes", timeNs: 1795313354909000000n, attributes: {} },
  ]);
});

Deno.test("proto: int and double typing, int64 edges, bigint out of range", () => {
  const attributes = {
    "minus.one": -1,
    "int.2^53+2": 2 ** 53 + 2,
    "int.2^62": 2 ** 62,
    "int.1e18+128": 1000000000000000128,
    "num.-2^63": -(2 ** 63),
    "num.2^63": 2 ** 63,
    "nan": NaN,
    "inf": Infinity,
    "-inf": -Infinity,
    "big.max": 2n ** 63n - 1n,
    "big.min": -(2n ** 63n),
    "big.over": 2n ** 63n,
    "big.under": -(2n ** 63n) - 1n,
    "big.huge": 10n ** 30n,
    "big.unsafe": 2n ** 60n + 1n,
  };
  const req = decodeOurs([span({ attributes })]);
  const kvs = req.resourceSpans[0].scopeSpans[0].spans[0].attributes;
  const got = Object.fromEntries(kvs.map((kv) => [kv.key, kv.value]));
  deepStrictEqual(got, {
    "minus.one": { intValue: -1n },
    "int.2^53+2": { intValue: 2n ** 53n + 2n },
    "int.2^62": { intValue: 2n ** 62n },
    "int.1e18+128": { intValue: 1000000000000000128n },
    "num.-2^63": { intValue: -(2n ** 63n) },
    "num.2^63": { doubleValue: 2 ** 63 },
    "nan": { doubleValue: NaN },
    "inf": { doubleValue: Infinity },
    "-inf": { doubleValue: -Infinity },
    "big.max": { intValue: 2n ** 63n - 1n },
    "big.min": { intValue: -(2n ** 63n) },
    "big.over": { stringValue: "9223372036854775808" },
    "big.under": { stringValue: "-9223372036854775809" },
    "big.huge": { stringValue: "1000000000000000000000000000000" },
    "big.unsafe": { intValue: 2n ** 60n + 1n },
  });
});

Deno.test("proto: timestamps keep every nanosecond up to 2^64-1", () => {
  const times = [
    1795313354907507123n,
    1795313354907507124n,
    2n ** 53n + 1n,
    2n ** 63n + 12345n,
    2n ** 64n - 1n,
  ];
  const spans = times.map((t) =>
    span({
      startNs: t,
      endNs: t,
      events: [{ name: "e", timeNs: t }],
    })
  );
  const got = flattenSpans(decodeOurs(spans));
  deepStrictEqual(got.map((s) => s.startNs), times);
  deepStrictEqual(got.map((s) => s.endNs), times);
  deepStrictEqual(got.map((s) => s.events[0].timeNs), times);
});

Deno.test("proto: spans group by resource object identity, in first-seen order", () => {
  const r1 = { attributes: { "service.name": "same" } };
  const r2 = { attributes: { "service.name": "same" } };
  const spans = [
    span({ spanId: "0000000000000001", resource: r1 }),
    span({ spanId: "0000000000000002", resource: r2 }),
    span({ spanId: "0000000000000003", resource: r1 }),
  ];
  const req = decodeOurs(spans);
  strictEqual(req.resourceSpans.length, 2);
  deepStrictEqual(
    req.resourceSpans.map((rs) => rs.scopeSpans[0].spans.map((s) => s.spanId.slice(-1))),
    [["1", "3"], ["2"]],
  );
});

Deno.test("proto: no parent, unset status and no events leave fields out", () => {
  const bytes = encodeOtlpTraceProto([
    span({ parentSpanId: "0000000000000000" }),
  ], "");
  const [s] = flattenSpans(decodeTraceRequestProto(bytes));
  strictEqual(s.parentSpanId, "");
  deepStrictEqual(s.status, { code: 0, message: "" });
  deepStrictEqual(s.scope, { name: "spanprobe", version: "" });
  // The span message carries only fields 1, 2, 5, 6, 7, 8, 16.
  const rs = decodeWire(bytes)[0].value as Uint8Array;
  const ss = decodeWire(rs)[1].value as Uint8Array;
  const spanBytes = decodeWire(ss)[1].value as Uint8Array;
  deepStrictEqual(decodeWire(spanBytes).map((f) => f.field), [
    1,
    2,
    5,
    6,
    7,
    8,
    16,
  ]);
});

Deno.test("proto: an empty batch is an empty request", () => {
  strictEqual(encodeOtlpTraceProto([], VERSION).length, 0);
});

Deno.test("proto: long strings, many attributes and big batches (multi-byte lengths)", () => {
  const long = "x".repeat(200);
  const huge = "é".repeat(20000); // 40000 UTF-8 bytes
  const many: Record<string, string> = {};
  for (let i = 0; i < 300; i++) many[`attr.${i}`] = `value-${i}-${long}`;
  const spans = [
    span({ name: long, attributes: { huge, long } }),
    span({ attributes: many }),
    ...Array.from(
      { length: 35000 },
      (_, i) => span({ spanId: i.toString(16).padStart(16, "0") }),
    ),
  ];
  const bytes = encodeOtlpTraceProto(spans, VERSION);
  strictEqual(bytes.length > 2 ** 21, true); // outer length needs 4 bytes
  deepStrictEqual(
    decodeTraceRequestProto(bytes),
    expectedRequest(spans, VERSION),
  );
});

Deno.test("proto: lone surrogates become U+FFFD (UTF-8 cannot carry them)", () => {
  const [s] = flattenSpans(decodeOurs([
    span({ name: "a\ud800b", attributes: { k: "\udc00" } }),
  ]));
  strictEqual(s.name, "a\ufffdb");
  strictEqual(s.attributes.k, "\ufffd");
});

Deno.test("proto: each call returns its own bytes", () => {
  const a = encodeOtlpTraceProto([span({ name: "first" })], VERSION);
  const copy = a.slice();
  encodeOtlpTraceProto([span({ name: "second" })], VERSION);
  deepStrictEqual(a, copy);
});

Deno.test("proto: decodes like @opentelemetry/otlp-transformer on the samples", () => {
  // The reference has no bigint: keep them safe integers for it.
  const spans = sampleSpans();
  deepStrictEqual(decodeOurs(spans), decodeReference(spans));
});

Deno.test("proto: decodes like @opentelemetry/otlp-transformer on random spans", () => {
  for (let seed = 1; seed <= 5; seed++) {
    const spans = randomSpans(200, seed);
    deepStrictEqual(decodeOurs(spans), decodeReference(spans), `seed ${seed}`);
  }
});

Deno.test("proto: random spans with bigints match the documented mapping", () => {
  for (let seed = 10; seed <= 14; seed++) {
    const spans = randomSpans(200, seed, { bigints: true });
    deepStrictEqual(
      decodeOurs(spans),
      expectedRequest(spans, VERSION),
      `seed ${seed}`,
    );
  }
});
