// Ring-buffer records to spans (no BPF needed): special labels, id rules,
// clock conversion, attributes, skips and errors.
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { parseTracingConfig } from "../lib/config/tracing_config.ts";
import { DecodeError } from "../lib/decoders/mod.ts";
import { compileRecordDecoder } from "../lib/sources/ringbuf/record_spans.ts";
import type { Resource } from "../lib/core/span_data.ts";
import { createClockOffsets } from "../lib/core/clock.ts";
import { measureMonotonicOffset, monotonicNowNs, syncMonotonic } from "../lib/ffi/mono_clock.ts";

const CONFIG = `tracing:
  spans:
    - name: exec
      ringbuf: exec_spans
      labels:
        - { name: trace_id, size: 16, decoders: [{ name: hex }] }
        - { name: parent_span_id, size: 8, decoders: [{ name: hex }] }
        - { name: span_id, size: 8, decoders: [{ name: hex }] }
        - { name: span_monotonic_timestamp_ns, size: 8, decoders: [{ name: uint }] }
        - { name: span_duration_ns, size: 8, decoders: [{ name: uint }] }
        - { name: pid, size: 4, decoders: [{ name: uint }] }
        - { name: state, size: 2, padding: 2, decoders: [{ name: uint }, { name: static_map, static_map: { 1: run } }] }
        - { name: span_name, size: 16, decoders: [{ name: string }] }
`;

class Rec {
  bytes: Uint8Array;
  view: DataView;
  off = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  hex(h: string) {
    for (let i = 0; i < h.length; i += 2) this.bytes[this.off++] = parseInt(h.slice(i, i + 2), 16);
    return this;
  }
  u64(v: bigint) {
    this.view.setBigUint64(this.off, v, true);
    this.off += 8;
    return this;
  }
  u32(v: number) {
    this.view.setUint32(this.off, v, true);
    this.off += 4;
    return this;
  }
  u16(v: number, pad = 0) {
    this.view.setUint16(this.off, v, true);
    this.off += 2 + pad;
    return this;
  }
  str(s: string, size: number) {
    this.bytes.set(new TextEncoder().encode(s), this.off);
    this.off += size;
    return this;
  }
}

const TRACE = "0af7651916cd43dd8448eb211c80319c";
const PARENT = "b7ad6b7169203331";
const SPAN = "00f067aa0ba902b7";
const resource: Resource = { attributes: { "service.name": "t" } };

function record(trace = TRACE, parent = PARENT, span = SPAN) {
  return new Rec(72).hex(trace).hex(parent).hex(span).u64(1_000_000_000n).u64(2500n).u32(4242).u16(1, 2)
    .str("bash", 16).bytes;
}

function decoder(yaml = CONFIG) {
  return compileRecordDecoder(parseTracingConfig("cfg.yaml", yaml).spans[0], resource);
}

Deno.test("records: the standard layout becomes a span", () => {
  const d = decoder();
  // Place the record at an offset inside a bigger buffer, as in the ring.
  const buf = new Uint8Array(200);
  buf.set(record(), 40);
  const s = d.decode(buf, 40, 72, 1_700_000_000_000_000_000n)!;
  assertEquals(s.traceId, TRACE);
  assertEquals(s.parentSpanId, PARENT);
  assertEquals(s.spanId, SPAN);
  assertEquals(s.startNs, 1_700_000_001_000_000_000n);
  assertEquals(s.endNs, 1_700_000_001_000_002_500n);
  assertEquals(s.name, "bash");
  assertEquals(s.attributes, { pid: 4242, state: "run" });
  assertEquals(s.kind, 1);
  assertEquals(s.status, { code: 0 });
  assert(s.resource === resource, "the one resource object is shared");
});

Deno.test("records: zero span id is generated, zero parent makes a root", () => {
  const s = decoder().decode(record(TRACE, "0".repeat(16), "0".repeat(16)), 0, 72, 0n)!;
  assertEquals(s.traceId, TRACE);
  assertEquals(s.parentSpanId, undefined);
  assert(/^[0-9a-f]{16}$/.test(s.spanId) && s.spanId !== "0".repeat(16));
  const s2 = decoder().decode(record(TRACE, "0".repeat(16), "0".repeat(16)), 0, 72, 0n)!;
  assert(s.spanId !== s2.spanId, "fresh ids");
});

Deno.test("records: zero trace id starts a new trace (and drops the parent)", () => {
  const s = decoder().decode(record("0".repeat(32)), 0, 72, 0n)!;
  assert(/^[0-9a-f]{32}$/.test(s.traceId) && s.traceId !== "0".repeat(32));
  assertEquals(s.parentSpanId, undefined);
  assertEquals(s.spanId, SPAN);
});

Deno.test("records: a record shorter than its labels is a DecodeError naming config, ring buffer and sizes", () => {
  throws(() => decoder().decode(new Uint8Array(64), 0, 64, 0n), (e: unknown) => {
    assert(e instanceof DecodeError);
    assert(/record of 64 bytes in ring buffer "exec_spans"/.test(e.message), e.message);
    assert(/span "exec" \(cfg\.yaml:3:7\) has labels for 72 bytes/.test(e.message), e.message);
    return true;
  });
});

Deno.test("records: a record longer than its labels decodes the labelled prefix, reported once", () => {
  const heard: number[] = [];
  const d = compileRecordDecoder(parseTracingConfig("cfg.yaml", CONFIG).spans[0], resource, {}, (n) => heard.push(n));
  const long = new Uint8Array(80);
  long.set(record());
  long.fill(0xff, 72);
  for (let i = 0; i < 3; i++) {
    const s = d.decode(long, 0, 80, 0n)!;
    assertEquals(s.traceId, TRACE);
    assertEquals(s.name, "bash");
    assertEquals(s.attributes.pid, 4242);
  }
  assertEquals(heard, [80], "the first longer record is reported, once");
  assertEquals(d.decode(record(), 0, 72, 0n)!.spanId, SPAN, "exact records still decode");
});

Deno.test("records: a regexp decoder that does not match skips the record", () => {
  const d = decoder(CONFIG.replace("[{ name: string }]", '[{ name: string }, { name: regexp, regexps: ["^sh$"] }]'));
  assertEquals(d.decode(record(), 0, 72, 0n), null);
});

Deno.test("records: special labels through general decoder chains", () => {
  const yaml = `tracing:
  spans:
    - ringbuf: r
      labels:
        - { name: trace_id, size: 32, decoders: [{ name: string }] }
        - { name: span_monotonic_timestamp_ns, size: 20, decoders: [{ name: string }] }
        - { name: span_duration_ns, size: 4, decoders: [{ name: string }] }
`;
  const d = decoder(yaml);
  const rec = new Rec(56).str(TRACE, 32).str("18446744073709551600", 20).str("7", 4).bytes;
  const s = d.decode(rec, 0, 56, 0n)!;
  assertEquals(s.traceId, TRACE);
  assertEquals(s.startNs, 18446744073709551600n);
  assertEquals(s.endNs - s.startNs, 7n);
  assertEquals(s.name, "r");
  assertEquals(s.parentSpanId, undefined);
  const bad = new Rec(56).str("not hex at all", 32).str("1", 20).str("7", 4).bytes;
  throws(
    () => d.decode(bad, 0, 56, 0n),
    (e: unknown) => e instanceof DecodeError && /trace_id: expected 32 hex/.test(e.message),
  );
});

Deno.test("records: without a timestamp label, spans start now", () => {
  const yaml = `tracing:
  spans:
    - ringbuf: r
      labels:
        - { name: x, size: 4, decoders: [{ name: uint }] }
`;
  const s = decoder(yaml).decode(new Rec(4).u32(1).bytes, 0, 4, 0n, () => 123n)!;
  assertEquals([s.startNs, s.endNs, s.attributes.x], [123n, 123n, 1]);
});

Deno.test("clock: the monotonic offset brackets clock_gettime and is recorded", () => {
  const a = measureMonotonicOffset();
  assert(a.gapNs >= 0n && a.gapNs < 1_000_000n, `gap ${a.gapNs}`);
  // bracketed by the wall clock read before and after (Date.now() has 1 ms granularity; the offset is
  // exact to half its gap): however long this process is preempted between the reads, the bracket holds
  const before = BigInt(Date.now()) * 1_000_000n;
  const viaOffset = monotonicNowNs() + a.offsetNs;
  const after = BigInt(Date.now() + 1) * 1_000_000n;
  const slack = a.gapNs / 2n + 1n;
  assert(
    viaOffset >= before - slack && viaOffset <= after + slack,
    `monotonic + offset (${viaOffset}) between the wall-clock reads before (${before}) and after (${after})`,
  );
  const clocks = createClockOffsets();
  const bSample = syncMonotonic(clocks);
  const b = clocks.get("monotonic")!;
  assertEquals(b, bSample.offsetNs, "the measurement is recorded");
  // each offset is exact to half its own gap; the clocks themselves do not drift apart measurably in between
  const drift = b > a.offsetNs ? b - a.offsetNs : a.offsetNs - b;
  const bound = (a.gapNs + bSample.gapNs) / 2n + 10_000n;
  assert(drift <= bound, `two measurements agree within their gaps: ${drift} ns (bound ${bound} ns)`);
});

Deno.test("records: span_status_code marks spans ok or failed (numbers, or text from a static_map)", () => {
  const yaml = (decoders: string) =>
    CONFIG.replace(
      "- { name: span_name, size: 16, decoders: [{ name: string }] }",
      `- { name: span_name, size: 12, decoders: [{ name: string }] }\n        - { name: span_status_code, size: 4, decoders: ${decoders} }`,
    );
  const withStatus = (code: number) => {
    const r = record();
    new DataView(r.buffer).setUint32(68, code, true);
    return r;
  };
  const plain = decoder(yaml("[{ name: uint }]"));
  assertEquals(plain.decode(withStatus(0), 0, 72, 0n)!.status.code, 0);
  assertEquals(plain.decode(withStatus(1), 0, 72, 0n)!.status.code, 1);
  const failed = plain.decode(withStatus(2), 0, 72, 0n)!;
  assertEquals(failed.status.code, 2);
  assertEquals(failed.attributes.span_status_code, undefined, "a reserved label, not an attribute");
  throws(
    () => plain.decode(withStatus(7), 0, 72, 0n),
    /span_status_code: expected 0 \(unset\), 1 \(ok\) or 2 \(error\)/,
  );
  // errno-style: 0 is success, anything else a failure
  const mapped = decoder(yaml("[{ name: uint }, { name: static_map, static_map: { 0: ok }, allow_unknown: false }]"));
  assertEquals(mapped.decode(withStatus(0), 0, 72, 0n)!.status.code, 1);
});
