/**
 * OTLP/JSON encoding of an `ExportTraceServiceRequest`, built by hand as one
 * string: lowerCamelCase keys, trace and span ids as hex, int64 values and
 * timestamps as decimal strings, enums (kind, status code) as integers, bytes
 * as base64. Default (zero) fields are left out.
 * @module
 */
import type {
  Attributes,
  AttributeValue,
  SpanData,
  SpanEvent,
} from "../spans/span_data.ts";
import {
  groupByResource,
  hasParent,
  INT64_MAX,
  INT64_MIN,
  SCOPE_NAME,
  SPAN_FLAGS,
} from "./otlp_common.ts";

const TWO_63 = 9223372036854775808;
const quote = JSON.stringify as (s: string) => string;

function double(v: number): string {
  if (Number.isFinite(v)) return `{"doubleValue":${v}}`;
  return `{"doubleValue":"${
    v !== v ? "NaN" : v > 0 ? "Infinity" : "-Infinity"
  }"}`;
}

/** One attribute value as an OTLP/JSON AnyValue. */
export function anyValueJson(v: AttributeValue): string {
  switch (typeof v) {
    case "string":
      return `{"stringValue":${quote(v)}}`;
    case "number":
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_63) {
        // Integers in int64 range print without exponent; -0 prints as 0.
        return `{"intValue":"${v}"}`;
      }
      return double(v);
    case "boolean":
      return v ? `{"boolValue":true}` : `{"boolValue":false}`;
    case "bigint":
      return v < INT64_MIN || v > INT64_MAX
        ? `{"stringValue":"${v}"}`
        : `{"intValue":"${v}"}`;
  }
  if (v instanceof Uint8Array) return `{"bytesValue":"${v.toBase64()}"}`;
  if (Array.isArray(v)) {
    let out = `{"arrayValue":{"values":[`;
    for (let i = 0; i < v.length; i++) {
      if (i) out += ",";
      out += anyValueJson(v[i]);
    }
    return out + "]}}";
  }
  return "{}";
}

/** Attributes as an OTLP/JSON KeyValue list (with the brackets). */
export function attributesJson(attrs: Attributes): string {
  let out = "[";
  let first = true;
  for (const key in attrs) {
    if (first) first = false;
    else out += ",";
    out += `{"key":${quote(key)},"value":${anyValueJson(attrs[key])}}`;
  }
  return out + "]";
}

function eventJson(e: SpanEvent): string {
  let out = `{"timeUnixNano":"${e.timeNs}","name":${quote(e.name)}`;
  if (e.attributes) out += `,"attributes":${attributesJson(e.attributes)}`;
  return out + "}";
}

/** One span as an OTLP/JSON Span object. */
export function spanJson(s: SpanData): string {
  let out = `{"traceId":${quote(s.traceId)},"spanId":${quote(s.spanId)}`;
  if (hasParent(s.parentSpanId)) {
    out += `,"parentSpanId":${quote(s.parentSpanId!)}`;
  }
  out += `,"flags":${SPAN_FLAGS},"name":${quote(s.name)}`;
  if (s.kind !== 0) out += `,"kind":${s.kind}`;
  out += `,"startTimeUnixNano":"${s.startNs}","endTimeUnixNano":"${s.endNs}"`;
  out += `,"attributes":${attributesJson(s.attributes)}`;
  const events = s.events;
  if (events && events.length) {
    out += `,"events":[`;
    for (let i = 0; i < events.length; i++) {
      if (i) out += ",";
      out += eventJson(events[i]);
    }
    out += "]";
  }
  const status = s.status;
  if (status.code !== 0 || status.message) {
    out += `,"status":{`;
    if (status.message) {
      out += `"message":${quote(status.message)}`;
      if (status.code !== 0) out += ",";
    }
    if (status.code !== 0) out += `"code":${status.code}`;
    out += "}";
  }
  return out + "}";
}

/**
 * Encode `spans` as an OTLP/JSON `ExportTraceServiceRequest` (one line, no
 * trailing newline): one ResourceSpans per resource object, each with one
 * ScopeSpans of scope `{name: "spanprobe", version: scopeVersion}`.
 */
export function encodeOtlpTraceJson(
  spans: readonly SpanData[],
  scopeVersion = "",
): string {
  const scope = scopeVersion
    ? `{"name":${quote(SCOPE_NAME)},"version":${quote(scopeVersion)}}`
    : `{"name":${quote(SCOPE_NAME)}}`;
  let out = `{"resourceSpans":[`;
  let firstGroup = true;
  for (const [resource, group] of groupByResource(spans)) {
    if (firstGroup) firstGroup = false;
    else out += ",";
    out += `{"resource":{"attributes":${attributesJson(resource.attributes)}}`;
    out += `,"scopeSpans":[{"scope":${scope},"spans":[`;
    for (let i = 0; i < group.length; i++) {
      if (i) out += ",";
      out += spanJson(group[i]);
    }
    out += "]}]}";
  }
  return out + "]}";
}
