/**
 * A hand-written protobuf encoder of the OTLP `ExportTraceServiceRequest`
 * (opentelemetry/proto/collector/trace/v1) straight from {@linkcode SpanData}.
 *
 * Everything is written into one growable byte buffer. Length prefixes are
 * reserved up front (1–3 bytes, by the usual size of the message) and patched
 * when the message ends; a wrong guess moves the message body once. Default
 * (zero) fields are left out, as proto3 allows. Timestamps go from `bigint`
 * into fixed64 exactly, never through `number`.
 * @module
 */
import type { Attributes, AttributeValue, SpanData, SpanEvent } from "../core/span_data.ts";
import { groupByResource, hasParent, INT64_MAX, INT64_MIN, SCOPE_NAME, SPAN_FLAGS } from "./otlp_common.ts";

const textEncoder = new TextEncoder();
const INITIAL_SIZE = 64 * 1024;
const RETAIN_MAX = 8 * 1024 * 1024;
const TWO_32 = 4294967296;
const TWO_63 = 9223372036854775808;
const SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

// The encoder's state; encoding is synchronous, so one buffer serves all calls.
let buf = new Uint8Array(INITIAL_SIZE);
let view = new DataView(buf.buffer);
let pos = 0;

const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[97 + i] = HEX_VALUE[65 + i] = 10 + i;

function grow(need: number): void {
  let size = buf.length * 2;
  while (size < pos + need) size *= 2;
  const next = new Uint8Array(size);
  next.set(buf.subarray(0, pos));
  buf = next;
  view = new DataView(buf.buffer);
}

function ensure(need: number): void {
  if (pos + need > buf.length) grow(need);
}

function varint32(v: number): void {
  const b = buf;
  let p = pos;
  while (v > 127) {
    b[p++] = (v & 127) | 128;
    v >>>= 7;
  }
  b[p++] = v;
  pos = p;
}

function varint64(lo: number, hi: number): void {
  while (hi !== 0 || lo > 127) {
    buf[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
}

/** An integral number within int64 range as a two's complement varint. */
function varintInt(v: number): void {
  if (v >= 0 && v < TWO_32) return varint32(v);
  const hi = Math.floor(v / TWO_32);
  varint64((v - hi * TWO_32) >>> 0, hi >>> 0);
}

/**
 * Reserve `size` bytes for a length prefix; returns where the body starts.
 * The caller has ensured room for them.
 */
function begin(size: number): number {
  pos += size;
  return pos;
}

/** Write the length of the body that began at `start` into its `size`-byte prefix. */
function end(start: number, size: number): void {
  let len = pos - start;
  const need = len < 128 ? 1 : len < 16384 ? 2 : len < 2097152 ? 3 : 4;
  if (need !== size) {
    ensure(need - size);
    buf.copyWithin(start + need - size, start, pos);
    pos += need - size;
  }
  let at = start - size;
  while (len > 127) {
    buf[at++] = (len & 127) | 128;
    len >>>= 7;
  }
  buf[at] = len;
}

function stringSlow(s: string): void {
  const max = s.length * 3;
  const size = max < 128 ? 1 : max < 16384 ? 2 : max < 2097152 ? 3 : 4;
  ensure(size + max);
  const start = pos + size;
  pos = start + textEncoder.encodeInto(s, buf.subarray(start)).written;
  end(start, size);
}

/** A length-prefixed UTF-8 string. */
function string(s: string): void {
  const n = s.length;
  if (n > 127) return stringSlow(s);
  ensure(n + 1);
  const b = buf;
  const start = pos;
  let p = start + 1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return stringSlow(s);
    b[p++] = c;
  }
  b[start] = n;
  pos = p;
}

/** A length-prefixed id: hex characters to bytes. */
function hexId(s: string): void {
  const n = s.length >>> 1;
  ensure(n + 5);
  varint32(n);
  const b = buf;
  let p = pos;
  for (let i = 0; i < n; i++) {
    b[p++] = (HEX_VALUE[s.charCodeAt(2 * i) & 127] << 4) | HEX_VALUE[s.charCodeAt(2 * i + 1) & 127];
  }
  pos = p;
}

function fixed64(ns: bigint): void {
  ensure(8);
  view.setBigUint64(pos, ns, true);
  pos += 8;
}

/** The fields of an AnyValue (without its own tag and length). */
function anyValue(v: AttributeValue): void {
  switch (typeof v) {
    case "string":
      ensure(1);
      buf[pos++] = 0x0a;
      string(v);
      return;
    case "number":
      ensure(11);
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_63) {
        buf[pos++] = 0x18;
        varintInt(v);
      } else {
        buf[pos++] = 0x21;
        view.setFloat64(pos, v, true);
        pos += 8;
      }
      return;
    case "boolean":
      ensure(2);
      buf[pos++] = 0x10;
      buf[pos++] = v ? 1 : 0;
      return;
    case "bigint":
      if (v < INT64_MIN || v > INT64_MAX) {
        ensure(1);
        buf[pos++] = 0x0a;
        string(v.toString());
        return;
      }
      ensure(11);
      buf[pos++] = 0x18;
      if (v >= -SAFE_BIG && v <= SAFE_BIG) {
        varintInt(Number(v));
      } else {
        const u = BigInt.asUintN(64, v);
        varint64(Number(u & 0xffffffffn), Number(u >> 32n));
      }
      return;
  }
  if (v instanceof Uint8Array) {
    ensure(v.length + 6);
    buf[pos++] = 0x3a;
    varint32(v.length);
    buf.set(v, pos);
    pos += v.length;
  } else if (Array.isArray(v)) {
    ensure(3);
    buf[pos++] = 0x2a;
    const array = begin(2);
    for (let i = 0; i < v.length; i++) {
      ensure(2);
      buf[pos++] = 0x0a;
      const item = begin(1);
      anyValue(v[i]);
      end(item, 1);
    }
    end(array, 2);
  }
}

/** Each attribute as a KeyValue under field `tag`. */
function attributes(tag: number, attrs: Attributes): void {
  for (const key in attrs) {
    ensure(3);
    buf[pos++] = tag;
    const kv = begin(1);
    buf[pos++] = 0x0a;
    string(key);
    ensure(2);
    buf[pos++] = 0x12;
    const value = begin(1);
    anyValue(attrs[key]);
    end(value, 1);
    end(kv, 1);
  }
}

function event(e: SpanEvent): void {
  ensure(12);
  buf[pos++] = 0x5a;
  const start = begin(2);
  buf[pos++] = 0x09;
  fixed64(e.timeNs);
  ensure(1);
  buf[pos++] = 0x12;
  string(e.name);
  if (e.attributes) attributes(0x1a, e.attributes);
  end(start, 2);
}

function span(s: SpanData): void {
  ensure(4);
  buf[pos++] = 0x12;
  const start = begin(2);
  buf[pos++] = 0x0a;
  hexId(s.traceId);
  ensure(1);
  buf[pos++] = 0x12;
  hexId(s.spanId);
  if (hasParent(s.parentSpanId)) {
    ensure(1);
    buf[pos++] = 0x22;
    hexId(s.parentSpanId!);
  }
  ensure(1);
  buf[pos++] = 0x2a;
  string(s.name);
  ensure(24);
  if (s.kind !== 0) {
    buf[pos++] = 0x30;
    varint32(s.kind);
  }
  buf[pos++] = 0x39;
  view.setBigUint64(pos, s.startNs, true);
  pos += 8;
  buf[pos++] = 0x41;
  view.setBigUint64(pos, s.endNs, true);
  pos += 8;
  attributes(0x4a, s.attributes);
  const events = s.events;
  if (events) { for (let i = 0; i < events.length; i++) event(events[i]); }
  const status = s.status;
  if (status.code !== 0 || status.message) {
    ensure(3);
    buf[pos++] = 0x7a;
    const st = begin(1);
    if (status.message) {
      buf[pos++] = 0x12;
      string(status.message);
    }
    ensure(2);
    if (status.code !== 0) {
      buf[pos++] = 0x18;
      buf[pos++] = status.code;
    }
    end(st, 1);
  }
  ensure(6);
  buf[pos++] = 0x85; // field 16, fixed32
  buf[pos++] = 0x01;
  view.setUint32(pos, SPAN_FLAGS, true);
  pos += 4;
  end(start, 2);
}

/**
 * Encode `spans` as a protobuf `ExportTraceServiceRequest`: one ResourceSpans
 * per resource object, each with one ScopeSpans of scope
 * `{name: "spanprobe", version: scopeVersion}`. Returns a fresh array.
 */
export function encodeOtlpTraceProto(
  spans: readonly SpanData[],
  scopeVersion = "",
): Uint8Array {
  pos = 0;
  for (const [resource, group] of groupByResource(spans)) {
    ensure(8);
    buf[pos++] = 0x0a;
    const rs = begin(3);
    buf[pos++] = 0x0a;
    const res = begin(2);
    attributes(0x0a, resource.attributes);
    end(res, 2);
    ensure(8);
    buf[pos++] = 0x12;
    const ss = begin(3);
    buf[pos++] = 0x0a;
    const scope = begin(1);
    buf[pos++] = 0x0a;
    string(SCOPE_NAME);
    if (scopeVersion) {
      ensure(1);
      buf[pos++] = 0x12;
      string(scopeVersion);
    }
    end(scope, 1);
    for (let i = 0; i < group.length; i++) span(group[i]);
    end(ss, 3);
    end(rs, 3);
  }
  const out = buf.slice(0, pos);
  if (buf.length > RETAIN_MAX) {
    buf = new Uint8Array(INITIAL_SIZE);
    view = new DataView(buf.buffer);
  }
  pos = 0;
  return out;
}
