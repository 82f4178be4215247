import { deepStrictEqual, ok, strictEqual } from "node:assert";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import { encodeOtlpTraceJson, encodeOtlpTraceJsonBytes } from "../lib/export/otlp_json.ts";
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import type { AttributeValue, SpanData } from "../lib/core/span_data.ts";
import { span } from "./support/spans.ts";
import {
  decodeTraceRequestJson,
  decodeTraceRequestProto,
  expectedRequest,
  randomSpans,
  sampleSpans,
  toReferenceSpans,
} from "./support/otlp_receiver.ts";

const VERSION = "0.1.0";

// deno-lint-ignore no-explicit-any
function parse(spans: SpanData[]): any {
  return JSON.parse(encodeOtlpTraceJson(spans, VERSION));
}

function decodeReference(spans: SpanData[]) {
  const bytes = JsonTraceSerializer.serializeRequest(toReferenceSpans(spans, VERSION));
  if (!bytes) throw new Error("reference serializer returned nothing");
  return decodeTraceRequestJson(new TextDecoder().decode(bytes));
}

Deno.test("json: every field decodes to the documented mapping", () => {
  const spans = sampleSpans();
  deepStrictEqual(decodeTraceRequestJson(encodeOtlpTraceJson(spans, VERSION)), expectedRequest(spans, VERSION));
});

Deno.test("json: OTLP/JSON spelling (hex ids, int64 as strings, enums as ints, base64 bytes)", () => {
  const root = parse(sampleSpans());
  const rs = root.resourceSpans[0];
  deepStrictEqual(rs.resource.attributes[2], { key: "process.pid", value: { intValue: "4242" } });
  deepStrictEqual(rs.scopeSpans[0].scope, { name: "spanprobe", version: VERSION });
  const s = rs.scopeSpans[0].spans[0];
  strictEqual(s.traceId, "0af7651916cd43dd8448eb211c80319c");
  strictEqual(s.spanId, "b7ad6b7169203331");
  strictEqual(s.parentSpanId, "00f067aa0ba902b7");
  strictEqual(s.kind, 2);
  strictEqual(s.flags, 257);
  strictEqual(s.startTimeUnixNano, "1795313354907507123");
  strictEqual(s.endTimeUnixNano, "1795313354910010126");
  deepStrictEqual(s.status, { message: "upstream failed: 503", code: 2 });
  const attrs = Object.fromEntries(
    // deno-lint-ignore no-explicit-any
    s.attributes.map((kv: any) => [kv.key, kv.value]),
  );
  deepStrictEqual(attrs["int"], { intValue: "42" });
  deepStrictEqual(attrs["neg"], { intValue: "-7" });
  deepStrictEqual(attrs["bigint"], { intValue: "12345" });
  deepStrictEqual(attrs["double"], { doubleValue: 1.5 });
  deepStrictEqual(attrs["f"], { boolValue: false });
  deepStrictEqual(attrs["bytes"], { bytesValue: "AAEC/f7/" });
  deepStrictEqual(attrs["no.bytes"], { bytesValue: "" });
  deepStrictEqual(attrs["arr.int"], {
    arrayValue: { values: [{ intValue: "1" }, { intValue: "-2" }, { intValue: "3" }] },
  });
  deepStrictEqual(s.events[0], {
    timeUnixNano: "1795313354908000001",
    name: "exception",
    attributes: [
      { key: "exception.type", value: { stringValue: "Error" } },
      { key: "retry", value: { intValue: "3" } },
    ],
  });
  // A span without parent, events or status leaves them out.
  const root2 = rs.scopeSpans[0].spans[1];
  strictEqual("parentSpanId" in root2, false);
  strictEqual("events" in root2, false);
  deepStrictEqual(root2.status, { code: 1 });
  const unset = root.resourceSpans[1].scopeSpans[0].spans[0];
  strictEqual("status" in unset, false);
  strictEqual(unset.endTimeUnixNano, "18446744073709551615");
});

Deno.test("json: int64 edges, unsafe integers exact, non-finite doubles", () => {
  const attributes: Record<string, AttributeValue> = {
    "int.1e18+128": 1000000000000000128,
    "max.safe": 9007199254740991,
    "min.safe": -9007199254740991,
    "2^32+7": 2 ** 32 + 7,
    "num.-2^63": -(2 ** 63),
    "num.2^63": 2 ** 63,
    "neg.zero": -0,
    "nan": NaN,
    "inf": Infinity,
    "-inf": -Infinity,
    "big.max": 2n ** 63n - 1n,
    "big.min": -(2n ** 63n),
    "big.over": 2n ** 63n,
    "big.under": -(2n ** 63n) - 1n,
    "tiny": 5e-324,
    "large.double": 1.5e300,
  };
  const values = Object.fromEntries(
    // deno-lint-ignore no-explicit-any
    parse([span({ attributes })]).resourceSpans[0].scopeSpans[0].spans[0].attributes.map((kv: any) => [
      kv.key,
      kv.value,
    ]),
  );
  deepStrictEqual(values, {
    "int.1e18+128": { intValue: "1000000000000000128" },
    "max.safe": { intValue: "9007199254740991" },
    "min.safe": { intValue: "-9007199254740991" },
    "2^32+7": { intValue: "4294967303" },
    "num.-2^63": { intValue: "-9223372036854775808" },
    "num.2^63": { doubleValue: 9223372036854775808 },
    "neg.zero": { intValue: "0" },
    "nan": { doubleValue: "NaN" },
    "inf": { doubleValue: "Infinity" },
    "-inf": { doubleValue: "-Infinity" },
    "big.max": { intValue: "9223372036854775807" },
    "big.min": { intValue: "-9223372036854775808" },
    "big.over": { stringValue: "9223372036854775808" },
    "big.under": { stringValue: "-9223372036854775809" },
    "tiny": { doubleValue: 5e-324 },
    "large.double": { doubleValue: 1.5e300 },
  });
});

Deno.test("json: strings are escaped exactly as JSON.stringify escapes them", () => {
  const tricky = [
    "",
    "plain",
    'quote " and backslash \\',
    "controls \u0000\u0001\b\f\n\r\t\u001f del \u007f",
    "latin é, cjk 中文, emoji 😀👍🏽",
    "lone high \ud800 end",
    "lone low \udc00 end",
    "reversed \udc00\ud800",
    "high at end \ud83d",
    "\u2028\u2029",
    "x".repeat(1000) + "\n",
  ];
  for (const s of tricky) {
    const text = encodeOtlpTraceJson([span({ name: s, attributes: { [s]: s } })], VERSION);
    ok(text.includes(`"name":${JSON.stringify(s)}`), `name ${JSON.stringify(s)}`);
    const parsed = JSON.parse(text).resourceSpans[0].scopeSpans[0].spans[0];
    strictEqual(parsed.name, s);
    deepStrictEqual(parsed.attributes, [{ key: s, value: { stringValue: s } }]);
  }
});

Deno.test("json: the string and byte forms agree; extraBytes leaves room", () => {
  const spans = sampleSpans();
  const bytes = encodeOtlpTraceJsonBytes(spans, VERSION);
  strictEqual(new TextDecoder().decode(bytes), encodeOtlpTraceJson(spans, VERSION));
  const withNewline = encodeOtlpTraceJsonBytes(spans, VERSION, 1);
  strictEqual(withNewline.length, bytes.length + 1);
  deepStrictEqual(withNewline.subarray(0, bytes.length), bytes);
  strictEqual(encodeOtlpTraceJson([], VERSION), `{"resourceSpans":[]}`);
});

Deno.test("json: big batches with long strings", () => {
  const long = "ü".repeat(50000);
  const spans = [
    span({ name: long, attributes: { long } }),
    ...Array.from({ length: 20000 }, (_, i) => span({ spanId: i.toString(16).padStart(16, "0") })),
  ];
  deepStrictEqual(decodeTraceRequestJson(encodeOtlpTraceJson(spans, VERSION)), expectedRequest(spans, VERSION));
});

Deno.test("json: decodes to the same structure as our protobuf (bigints included)", () => {
  for (let seed = 20; seed <= 24; seed++) {
    const spans = randomSpans(200, seed, { bigints: true });
    deepStrictEqual(
      decodeTraceRequestJson(encodeOtlpTraceJson(spans, VERSION)),
      decodeTraceRequestProto(encodeOtlpTraceProto(spans, VERSION)),
      `seed ${seed}`,
    );
  }
});

/**
 * The reference JSON serializer writes every integral number as intValue,
 * even beyond int64 (e.g. 1e25); keep such values out of the comparison.
 */
function withinReference(spans: SpanData[]): SpanData[] {
  const fix = (v: AttributeValue): AttributeValue => {
    if (typeof v === "number" && Number.isInteger(v) && Math.abs(v) >= 2 ** 63) return 1.25;
    if (Array.isArray(v)) return v.map(fix);
    return v;
  };
  for (const s of spans) {
    for (const k in s.attributes) s.attributes[k] = fix(s.attributes[k]);
    for (const e of s.events ?? []) {
      for (const k in e.attributes) e.attributes[k] = fix(e.attributes[k]);
    }
  }
  return spans;
}

Deno.test("json: decodes like @opentelemetry/otlp-transformer on the samples", () => {
  const spans = sampleSpans();
  deepStrictEqual(decodeTraceRequestJson(encodeOtlpTraceJson(spans, VERSION)), decodeReference(spans));
});

Deno.test("json: decodes like @opentelemetry/otlp-transformer on random spans", () => {
  for (let seed = 1; seed <= 5; seed++) {
    const spans = withinReference(randomSpans(200, seed));
    deepStrictEqual(
      decodeTraceRequestJson(encodeOtlpTraceJson(spans, VERSION)),
      decodeReference(spans),
      `seed ${seed}`,
    );
  }
});
