/**
 * OTLP/JSON encoding of an `ExportTraceServiceRequest`, written by hand
 * straight into UTF-8 bytes: lowerCamelCase keys, trace and span ids as hex,
 * int64 values and timestamps as decimal strings, enums (kind, status code)
 * as integers, bytes as base64, non-finite doubles as "NaN"/"Infinity"/
 * "-Infinity". Default (zero) fields are left out.
 *
 * Writing bytes directly (rather than concatenating strings and encoding the
 * result) avoids building and flattening a large rope string.
 * @module
 */
import type { Attributes, AttributeValue, SpanData, SpanEvent } from "../core/span_data.ts";
import { groupByResource, hasParent, INT64_MAX, INT64_MIN, SCOPE_NAME, SPAN_FLAGS } from "./otlp_common.ts";

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
const INITIAL_SIZE = 64 * 1024;
const RETAIN_MAX = 8 * 1024 * 1024;
const TWO_63 = 9223372036854775808;
const HEX = "0123456789abcdef";

// The encoder's state; encoding is synchronous, so one buffer serves all calls.
let buf = new Uint8Array(INITIAL_SIZE);
let pos = 0;
const digits = new Uint8Array(24);

function grow(need: number): void {
  let size = buf.length * 2;
  while (size < pos + need) size *= 2;
  const next = new Uint8Array(size);
  next.set(buf.subarray(0, pos));
  buf = next;
}

function ensure(need: number): void {
  if (pos + need > buf.length) grow(need);
}

/** A constant ASCII fragment, pre-encoded. */
const F = (s: string): Uint8Array => textEncoder.encode(s);

function raw(b: Uint8Array): void {
  const n = b.length;
  ensure(n);
  for (let i = 0; i < n; i++) buf[pos++] = b[i];
}

/** An ASCII-only string (numbers, base64) as is. */
function ascii(s: string): void {
  const n = s.length;
  ensure(n);
  for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
}

/** A non-negative safe integer in decimal. */
function uint(v: number): void {
  ensure(16);
  if (v < 10) {
    buf[pos++] = 48 + v;
    return;
  }
  let n = 0;
  while (v > 0) {
    const q = Math.floor(v / 10);
    digits[n++] = 48 + (v - q * 10);
    v = q;
  }
  while (n > 0) buf[pos++] = digits[--n];
}

function escapeByte(c: number): void {
  buf[pos++] = 0x5c; // backslash
  switch (c) {
    case 0x22:
    case 0x5c:
      buf[pos++] = c;
      return;
    case 0x08:
      buf[pos++] = 0x62; // b
      return;
    case 0x0c:
      buf[pos++] = 0x66; // f
      return;
    case 0x0a:
      buf[pos++] = 0x6e; // n
      return;
    case 0x0d:
      buf[pos++] = 0x72; // r
      return;
    case 0x09:
      buf[pos++] = 0x74; // t
      return;
  }
  unicodeEscapeRest(c);
}

/** After the backslash: `uXXXX` in lowercase hex, as `JSON.stringify` writes it. */
function unicodeEscapeRest(c: number): void {
  buf[pos++] = 0x75; // u
  buf[pos++] = HEX.charCodeAt(c >>> 12);
  buf[pos++] = HEX.charCodeAt((c >>> 8) & 15);
  buf[pos++] = HEX.charCodeAt((c >>> 4) & 15);
  buf[pos++] = HEX.charCodeAt(c & 15);
}

/** The rest of a string from index `i`, escaping and UTF-8 encoding as needed. */
function stringSlow(s: string, i: number): void {
  const n = s.length;
  ensure((n - i) * 6 + 1);
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) buf[pos++] = c;
      else escapeByte(c);
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >>> 6);
      buf[pos++] = 0x80 | (c & 63);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        buf[pos++] = 0xf0 | (cp >>> 18);
        buf[pos++] = 0x80 | ((cp >>> 12) & 63);
        buf[pos++] = 0x80 | ((cp >>> 6) & 63);
        buf[pos++] = 0x80 | (cp & 63);
        i++;
      } else {
        buf[pos++] = 0x5c;
        unicodeEscapeRest(c); // a lone surrogate
      }
    } else {
      buf[pos++] = 0xe0 | (c >>> 12);
      buf[pos++] = 0x80 | ((c >>> 6) & 63);
      buf[pos++] = 0x80 | (c & 63);
    }
  }
  buf[pos++] = 0x22;
}

/** A JSON string literal. */
function string(s: string): void {
  const n = s.length;
  ensure(n + 2);
  buf[pos++] = 0x22;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      return stringSlow(s, i);
    }
    buf[pos++] = c;
  }
  buf[pos++] = 0x22;
}

const ANY_STRING = F(`{"stringValue":`);
const ANY_INT = F(`{"intValue":"`);
const ANY_DOUBLE = F(`{"doubleValue":`);
const ANY_TRUE = F(`{"boolValue":true}`);
const ANY_FALSE = F(`{"boolValue":false}`);
const ANY_BYTES = F(`{"bytesValue":"`);
const ANY_ARRAY = F(`{"arrayValue":{"values":[`);
const ANY_ARRAY_END = F(`]}}`);
const QUOTE_BRACE = F(`"}`);

function anyValue(v: AttributeValue): void {
  switch (typeof v) {
    case "string":
      raw(ANY_STRING);
      string(v);
      ensure(1);
      buf[pos++] = 0x7d; // }
      return;
    case "number":
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_63) {
        raw(ANY_INT);
        if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) uint(v);
        else if (v < 0 && v >= -Number.MAX_SAFE_INTEGER) {
          ensure(1);
          buf[pos++] = 0x2d; // -
          uint(-v);
        } else ascii(BigInt(v).toString()); // exact, never exponent notation
        raw(QUOTE_BRACE);
      } else if (Number.isFinite(v)) {
        raw(ANY_DOUBLE);
        ascii(String(v));
        ensure(1);
        buf[pos++] = 0x7d;
      } else {
        raw(ANY_DOUBLE);
        ascii(v !== v ? `"NaN"}` : v > 0 ? `"Infinity"}` : `"-Infinity"}`);
      }
      return;
    case "boolean":
      raw(v ? ANY_TRUE : ANY_FALSE);
      return;
    case "bigint":
      if (v < INT64_MIN || v > INT64_MAX) {
        raw(ANY_STRING);
        ascii(`"${v}"}`);
      } else {
        raw(ANY_INT);
        ascii(v.toString());
        raw(QUOTE_BRACE);
      }
      return;
  }
  if (v instanceof Uint8Array) {
    raw(ANY_BYTES);
    ascii(v.toBase64());
    raw(QUOTE_BRACE);
  } else if (Array.isArray(v)) {
    raw(ANY_ARRAY);
    for (let i = 0; i < v.length; i++) {
      if (i) {
        ensure(1);
        buf[pos++] = 0x2c; // ,
      }
      anyValue(v[i]);
    }
    raw(ANY_ARRAY_END);
  } else {
    ascii("{}");
  }
}

const KV_KEY = F(`{"key":`);
const KV_VALUE = F(`,"value":`);

/** Attributes as a KeyValue list, brackets included. */
function attributes(attrs: Attributes): void {
  ensure(1);
  buf[pos++] = 0x5b; // [
  let first = true;
  for (const key in attrs) {
    if (first) first = false;
    else {
      ensure(1);
      buf[pos++] = 0x2c;
    }
    raw(KV_KEY);
    string(key);
    raw(KV_VALUE);
    anyValue(attrs[key]);
    ensure(1);
    buf[pos++] = 0x7d;
  }
  ensure(1);
  buf[pos++] = 0x5d; // ]
}

const EV_TIME = F(`{"timeUnixNano":"`);
const EV_NAME = F(`","name":`);
const EV_ATTRS = F(`,"attributes":`);

function event(e: SpanEvent): void {
  raw(EV_TIME);
  ascii(e.timeNs.toString());
  raw(EV_NAME);
  string(e.name);
  if (e.attributes) {
    raw(EV_ATTRS);
    attributes(e.attributes);
  }
  ensure(1);
  buf[pos++] = 0x7d;
}

const SP_TRACE = F(`{"traceId":`);
const SP_SPAN = F(`,"spanId":`);
const SP_PARENT = F(`,"parentSpanId":`);
const SP_FLAGS_NAME = F(`,"flags":${SPAN_FLAGS},"name":`);
const SP_KIND = F(`,"kind":`);
const SP_START = F(`,"startTimeUnixNano":"`);
const SP_END = F(`","endTimeUnixNano":"`);
const SP_ATTRS = F(`","attributes":`);
const SP_EVENTS = F(`,"events":[`);
const SP_STATUS = F(`,"status":{`);
const ST_MESSAGE = F(`"message":`);
const ST_CODE = F(`"code":`);

function span(s: SpanData): void {
  raw(SP_TRACE);
  string(s.traceId);
  raw(SP_SPAN);
  string(s.spanId);
  if (hasParent(s.parentSpanId)) {
    raw(SP_PARENT);
    string(s.parentSpanId!);
  }
  raw(SP_FLAGS_NAME);
  string(s.name);
  if (s.kind !== 0) {
    raw(SP_KIND);
    uint(s.kind);
  }
  raw(SP_START);
  ascii(s.startNs.toString());
  raw(SP_END);
  ascii(s.endNs.toString());
  raw(SP_ATTRS);
  attributes(s.attributes);
  const events = s.events;
  if (events && events.length) {
    raw(SP_EVENTS);
    for (let i = 0; i < events.length; i++) {
      if (i) {
        ensure(1);
        buf[pos++] = 0x2c;
      }
      event(events[i]);
    }
    ensure(1);
    buf[pos++] = 0x5d;
  }
  const status = s.status;
  if (status.code !== 0 || status.message) {
    raw(SP_STATUS);
    if (status.message) {
      raw(ST_MESSAGE);
      string(status.message);
      if (status.code !== 0) {
        ensure(1);
        buf[pos++] = 0x2c;
      }
    }
    if (status.code !== 0) {
      raw(ST_CODE);
      uint(status.code);
    }
    ensure(1);
    buf[pos++] = 0x7d;
  }
  ensure(1);
  buf[pos++] = 0x7d;
}

const REQ_START = F(`{"resourceSpans":[`);
const RS_START = F(`{"resource":{"attributes":`);
const RS_SCOPE = F(`},"scopeSpans":[{"scope":{"name":`);
const SCOPE_VERSION = F(`,"version":`);
const SS_SPANS = F(`},"spans":[`);
const RS_END = F(`]}]}`);
const REQ_END = F(`]}`);

function request(spans: readonly SpanData[], scopeVersion: string): void {
  pos = 0;
  raw(REQ_START);
  let firstGroup = true;
  for (const [resource, group] of groupByResource(spans)) {
    if (firstGroup) firstGroup = false;
    else {
      ensure(1);
      buf[pos++] = 0x2c;
    }
    raw(RS_START);
    attributes(resource.attributes);
    raw(RS_SCOPE);
    string(SCOPE_NAME);
    if (scopeVersion) {
      raw(SCOPE_VERSION);
      string(scopeVersion);
    }
    raw(SS_SPANS);
    for (let i = 0; i < group.length; i++) {
      if (i) {
        ensure(1);
        buf[pos++] = 0x2c;
      }
      span(group[i]);
    }
    raw(RS_END);
  }
  raw(REQ_END);
}

function release(): void {
  if (buf.length > RETAIN_MAX) buf = new Uint8Array(INITIAL_SIZE);
  pos = 0;
}

/**
 * Encode `spans` as an OTLP/JSON `ExportTraceServiceRequest` in UTF-8 (one
 * line, no trailing newline): one ResourceSpans per resource object, each
 * with one ScopeSpans of scope `{name: "spanprobe", version: scopeVersion}`.
 * `extraBytes` leaves that many zero bytes at the end (e.g. for a newline).
 * Returns a fresh array.
 */
export function encodeOtlpTraceJsonBytes(
  spans: readonly SpanData[],
  scopeVersion = "",
  extraBytes = 0,
): Uint8Array {
  request(spans, scopeVersion);
  const out = new Uint8Array(pos + extraBytes);
  out.set(buf.subarray(0, pos));
  release();
  return out;
}

/** Like {@linkcode encodeOtlpTraceJsonBytes}, as a string. */
export function encodeOtlpTraceJson(
  spans: readonly SpanData[],
  scopeVersion = "",
): string {
  request(spans, scopeVersion);
  const out = textDecoder.decode(buf.subarray(0, pos));
  release();
  return out;
}
