/**
 * A real OTLP/HTTP trace receiver on loopback, for tests.
 *
 * Listens on 127.0.0.1 (port 0 by default) at `/v1/traces`, accepts
 * `application/x-protobuf` and `application/json` bodies, optionally
 * gzip-compressed, decodes every span with its own small protobuf
 * wire-format decoder (or JSON normalizer) and records it. Its behavior can be
 * switched at run time: answer normally, go down, answer with an error status
 * (and `Retry-After`), answer slowly, or report a partial success.
 * @module
 */
import type { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { Attributes, AttributeValue, Resource, SpanData } from "../../lib/core/span_data.ts";
import { type DecodedMetricsRequest, decodeMetricsRequestJson, decodeMetricsRequestProto } from "./otlp_metrics.ts";

// ---------------------------------------------------------------------------
// Decoded OTLP structure (shaped like OTLP/JSON, but exact: times and
// int64 values as bigint, ids as lowercase hex, bytes as Uint8Array; absent
// fields hold their proto3 defaults).

/** A decoded `AnyValue`: exactly one key set, or none for an empty value. */
export interface DecodedAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: bigint;
  doubleValue?: number;
  bytesValue?: Uint8Array;
  arrayValue?: { values: DecodedAnyValue[] };
  kvlistValue?: { values: DecodedKeyValue[] };
}

/** A decoded `KeyValue`. */
export interface DecodedKeyValue {
  key: string;
  value: DecodedAnyValue;
}

/** A decoded `Span.Event`. */
export interface DecodedEvent {
  timeUnixNano: bigint;
  name: string;
  attributes: DecodedKeyValue[];
  droppedAttributesCount: number;
}

/** A decoded `Span.Link`. */
export interface DecodedLink {
  traceId: string;
  spanId: string;
  traceState: string;
  attributes: DecodedKeyValue[];
  droppedAttributesCount: number;
  flags: number;
}

/** A decoded `Span`. */
export interface DecodedSpan {
  traceId: string;
  spanId: string;
  traceState: string;
  parentSpanId: string;
  flags: number;
  name: string;
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: DecodedKeyValue[];
  droppedAttributesCount: number;
  events: DecodedEvent[];
  droppedEventsCount: number;
  links: DecodedLink[];
  droppedLinksCount: number;
  status: { message: string; code: number };
}

/** A decoded `InstrumentationScope`. */
export interface DecodedScope {
  name: string;
  version: string;
  attributes: DecodedKeyValue[];
  droppedAttributesCount: number;
}

/** A decoded `ScopeSpans`. */
export interface DecodedScopeSpans {
  scope: DecodedScope;
  spans: DecodedSpan[];
  schemaUrl: string;
}

/** A decoded `ResourceSpans`. */
export interface DecodedResourceSpans {
  resource: { attributes: DecodedKeyValue[]; droppedAttributesCount: number };
  scopeSpans: DecodedScopeSpans[];
  schemaUrl: string;
}

/** A decoded `ExportTraceServiceRequest`. */
export interface DecodedTraceRequest {
  resourceSpans: DecodedResourceSpans[];
}

// ---------------------------------------------------------------------------
// Protobuf wire format.

/** One field of a protobuf message as found on the wire. */
export type WireField =
  | { field: number; wire: 0; value: bigint }
  | { field: number; wire: 1; value: bigint }
  | { field: number; wire: 2; value: Uint8Array }
  | { field: number; wire: 5; value: number };

/**
 * Split a protobuf message into its fields (varint and fixed64 as unsigned
 * bigint, fixed32 as unsigned number, length-delimited as bytes). Throws on
 * truncated input or unsupported wire types (groups).
 */
export function decodeWire(bytes: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= bytes.length) throw new Error("truncated varint");
      const b = bytes[pos++];
      result |= BigInt(b & 127) << shift;
      if (b < 128) return result;
      shift += 7n;
      if (shift > 63n) throw new Error("varint too long");
    }
  };
  while (pos < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new Error("field number 0");
    switch (wire) {
      case 0:
        fields.push({ field, wire, value: varint() });
        break;
      case 1:
        if (pos + 8 > bytes.length) throw new Error("truncated fixed64");
        fields.push({ field, wire, value: view.getBigUint64(pos, true) });
        pos += 8;
        break;
      case 2: {
        const len = Number(varint());
        if (pos + len > bytes.length) throw new Error("truncated bytes");
        fields.push({ field, wire, value: bytes.subarray(pos, pos + len) });
        pos += len;
        break;
      }
      case 5:
        if (pos + 4 > bytes.length) throw new Error("truncated fixed32");
        fields.push({ field, wire, value: view.getUint32(pos, true) });
        pos += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return fields;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

function asBytes(f: WireField): Uint8Array {
  if (f.wire !== 2) throw new Error(`field ${f.field}: expected bytes`);
  return f.value;
}

function asString(f: WireField): string {
  return utf8.decode(asBytes(f));
}

function asUint(f: WireField): bigint {
  if (f.wire !== 0 && f.wire !== 1) {
    throw new Error(`field ${f.field}: expected integer`);
  }
  return f.value;
}

function asSmall(f: WireField): number {
  if (f.wire === 5) return f.value;
  return Number(BigInt.asIntN(32, asUint(f)));
}

function protoAnyValue(bytes: Uint8Array): DecodedAnyValue {
  let out: DecodedAnyValue = {};
  for (const f of decodeWire(bytes)) {
    switch (f.field) {
      case 1:
        out = { stringValue: asString(f) };
        break;
      case 2:
        out = { boolValue: asUint(f) !== 0n };
        break;
      case 3:
        out = { intValue: BigInt.asIntN(64, asUint(f)) };
        break;
      case 4: {
        if (f.wire !== 1) throw new Error("double_value: expected fixed64");
        const b = new DataView(new ArrayBuffer(8));
        b.setBigUint64(0, f.value, true);
        out = { doubleValue: b.getFloat64(0, true) };
        break;
      }
      case 5:
        out = {
          arrayValue: {
            values: decodeWire(asBytes(f)).filter((g) => g.field === 1).map((
              g,
            ) => protoAnyValue(asBytes(g))),
          },
        };
        break;
      case 6:
        out = {
          kvlistValue: {
            values: decodeWire(asBytes(f)).filter((g) => g.field === 1).map((
              g,
            ) => protoKeyValue(asBytes(g))),
          },
        };
        break;
      case 7:
        out = { bytesValue: asBytes(f).slice() };
        break;
    }
  }
  return out;
}

/** Decode a protobuf `KeyValue`. */
export function protoKeyValue(bytes: Uint8Array): DecodedKeyValue {
  const kv: DecodedKeyValue = { key: "", value: {} };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) kv.key = asString(f);
    else if (f.field === 2) kv.value = protoAnyValue(asBytes(f));
  }
  return kv;
}

function protoEvent(bytes: Uint8Array): DecodedEvent {
  const e: DecodedEvent = {
    timeUnixNano: 0n,
    name: "",
    attributes: [],
    droppedAttributesCount: 0,
  };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) e.timeUnixNano = asUint(f);
    else if (f.field === 2) e.name = asString(f);
    else if (f.field === 3) e.attributes.push(protoKeyValue(asBytes(f)));
    else if (f.field === 4) e.droppedAttributesCount = asSmall(f);
  }
  return e;
}

function protoLink(bytes: Uint8Array): DecodedLink {
  const l: DecodedLink = {
    traceId: "",
    spanId: "",
    traceState: "",
    attributes: [],
    droppedAttributesCount: 0,
    flags: 0,
  };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) l.traceId = hex(asBytes(f));
    else if (f.field === 2) l.spanId = hex(asBytes(f));
    else if (f.field === 3) l.traceState = asString(f);
    else if (f.field === 4) l.attributes.push(protoKeyValue(asBytes(f)));
    else if (f.field === 5) l.droppedAttributesCount = asSmall(f);
    else if (f.field === 6) l.flags = asSmall(f);
  }
  return l;
}

function emptySpan(): DecodedSpan {
  return {
    traceId: "",
    spanId: "",
    traceState: "",
    parentSpanId: "",
    flags: 0,
    name: "",
    kind: 0,
    startTimeUnixNano: 0n,
    endTimeUnixNano: 0n,
    attributes: [],
    droppedAttributesCount: 0,
    events: [],
    droppedEventsCount: 0,
    links: [],
    droppedLinksCount: 0,
    status: { message: "", code: 0 },
  };
}

function protoSpan(bytes: Uint8Array): DecodedSpan {
  const s = emptySpan();
  for (const f of decodeWire(bytes)) {
    switch (f.field) {
      case 1:
        s.traceId = hex(asBytes(f));
        break;
      case 2:
        s.spanId = hex(asBytes(f));
        break;
      case 3:
        s.traceState = asString(f);
        break;
      case 4:
        s.parentSpanId = hex(asBytes(f));
        break;
      case 5:
        s.name = asString(f);
        break;
      case 6:
        s.kind = asSmall(f);
        break;
      case 7:
        s.startTimeUnixNano = asUint(f);
        break;
      case 8:
        s.endTimeUnixNano = asUint(f);
        break;
      case 9:
        s.attributes.push(protoKeyValue(asBytes(f)));
        break;
      case 10:
        s.droppedAttributesCount = asSmall(f);
        break;
      case 11:
        s.events.push(protoEvent(asBytes(f)));
        break;
      case 12:
        s.droppedEventsCount = asSmall(f);
        break;
      case 13:
        s.links.push(protoLink(asBytes(f)));
        break;
      case 14:
        s.droppedLinksCount = asSmall(f);
        break;
      case 15:
        for (const g of decodeWire(asBytes(f))) {
          if (g.field === 2) s.status.message = asString(g);
          else if (g.field === 3) s.status.code = asSmall(g);
        }
        break;
      case 16:
        s.flags = asSmall(f);
        break;
    }
  }
  return s;
}

function protoScope(bytes: Uint8Array): DecodedScope {
  const scope: DecodedScope = {
    name: "",
    version: "",
    attributes: [],
    droppedAttributesCount: 0,
  };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) scope.name = asString(f);
    else if (f.field === 2) scope.version = asString(f);
    else if (f.field === 3) scope.attributes.push(protoKeyValue(asBytes(f)));
    else if (f.field === 4) scope.droppedAttributesCount = asSmall(f);
  }
  return scope;
}

function protoScopeSpans(bytes: Uint8Array): DecodedScopeSpans {
  const ss: DecodedScopeSpans = {
    scope: { name: "", version: "", attributes: [], droppedAttributesCount: 0 },
    spans: [],
    schemaUrl: "",
  };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) ss.scope = protoScope(asBytes(f));
    else if (f.field === 2) ss.spans.push(protoSpan(asBytes(f)));
    else if (f.field === 3) ss.schemaUrl = asString(f);
  }
  return ss;
}

function protoResourceSpans(bytes: Uint8Array): DecodedResourceSpans {
  const rs: DecodedResourceSpans = {
    resource: { attributes: [], droppedAttributesCount: 0 },
    scopeSpans: [],
    schemaUrl: "",
  };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) {
      for (const g of decodeWire(asBytes(f))) {
        if (g.field === 1) {
          rs.resource.attributes.push(protoKeyValue(asBytes(g)));
        } else if (g.field === 2) {
          rs.resource.droppedAttributesCount = asSmall(g);
        }
      }
    } else if (f.field === 2) rs.scopeSpans.push(protoScopeSpans(asBytes(f)));
    else if (f.field === 3) rs.schemaUrl = asString(f);
  }
  return rs;
}

/** Decode a protobuf `ExportTraceServiceRequest`. Throws on malformed input. */
export function decodeTraceRequestProto(
  bytes: Uint8Array,
): DecodedTraceRequest {
  const req: DecodedTraceRequest = { resourceSpans: [] };
  for (const f of decodeWire(bytes)) {
    if (f.field === 1) req.resourceSpans.push(protoResourceSpans(asBytes(f)));
  }
  return req;
}

// ---------------------------------------------------------------------------
// OTLP/JSON, normalized to the same structure.

// deno-lint-ignore no-explicit-any
type Json = any;

const KIND_NAMES: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_NAMES: Record<string, number> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

function jsonEnum(v: Json, names: Record<string, number>): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return v;
  if (v in names) return names[v];
  throw new Error(`bad enum value ${JSON.stringify(v)}`);
}

function jsonBig(v: Json): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === "number" && !Number.isInteger(v)) {
    throw new Error(`bad integer ${v}`);
  }
  return BigInt(v);
}

function jsonId(v: Json): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string" || !/^([0-9a-fA-F]{2})*$/.test(v)) {
    throw new Error(`bad id ${JSON.stringify(v)}`);
  }
  return v.toLowerCase();
}

function jsonDouble(v: Json): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  throw new Error(`bad double ${JSON.stringify(v)}`);
}

function jsonAnyValue(v: Json): DecodedAnyValue {
  if (!v) return {};
  if ("stringValue" in v) return { stringValue: String(v.stringValue) };
  if ("boolValue" in v) return { boolValue: v.boolValue === true };
  if ("intValue" in v) return { intValue: jsonBig(v.intValue) };
  if ("doubleValue" in v) return { doubleValue: jsonDouble(v.doubleValue) };
  if ("bytesValue" in v) {
    return { bytesValue: Uint8Array.fromBase64(String(v.bytesValue)) };
  }
  if ("arrayValue" in v) {
    return {
      arrayValue: { values: (v.arrayValue?.values ?? []).map(jsonAnyValue) },
    };
  }
  if ("kvlistValue" in v) {
    return {
      kvlistValue: { values: (v.kvlistValue?.values ?? []).map(jsonKeyValue) },
    };
  }
  return {};
}

/** Normalize an OTLP/JSON `KeyValue`. */
// deno-lint-ignore no-explicit-any
export function jsonKeyValue(v: any): DecodedKeyValue {
  return { key: String(v?.key ?? ""), value: jsonAnyValue(v?.value) };
}

function jsonAttributes(v: Json): DecodedKeyValue[] {
  return (v ?? []).map(jsonKeyValue);
}

function jsonSpan(v: Json): DecodedSpan {
  return {
    traceId: jsonId(v.traceId),
    spanId: jsonId(v.spanId),
    traceState: v.traceState ?? "",
    parentSpanId: jsonId(v.parentSpanId),
    flags: Number(v.flags ?? 0),
    name: v.name ?? "",
    kind: jsonEnum(v.kind, KIND_NAMES),
    startTimeUnixNano: jsonBig(v.startTimeUnixNano),
    endTimeUnixNano: jsonBig(v.endTimeUnixNano),
    attributes: jsonAttributes(v.attributes),
    droppedAttributesCount: Number(v.droppedAttributesCount ?? 0),
    events: (v.events ?? []).map((e: Json): DecodedEvent => ({
      timeUnixNano: jsonBig(e.timeUnixNano),
      name: e.name ?? "",
      attributes: jsonAttributes(e.attributes),
      droppedAttributesCount: Number(e.droppedAttributesCount ?? 0),
    })),
    droppedEventsCount: Number(v.droppedEventsCount ?? 0),
    links: (v.links ?? []).map((l: Json): DecodedLink => ({
      traceId: jsonId(l.traceId),
      spanId: jsonId(l.spanId),
      traceState: l.traceState ?? "",
      attributes: jsonAttributes(l.attributes),
      droppedAttributesCount: Number(l.droppedAttributesCount ?? 0),
      flags: Number(l.flags ?? 0),
    })),
    droppedLinksCount: Number(v.droppedLinksCount ?? 0),
    status: {
      message: v.status?.message ?? "",
      code: jsonEnum(v.status?.code, STATUS_NAMES),
    },
  };
}

/**
 * Normalize a parsed OTLP/JSON `ExportTraceServiceRequest` (lowerCamelCase
 * keys, hex ids, int64 as strings or numbers) into the decoded structure.
 * Throws on malformed values.
 */
export function decodeTraceRequestJson(
  json: string | Json,
): DecodedTraceRequest {
  const root = typeof json === "string" ? JSON.parse(json) : json;
  if (typeof root !== "object" || root === null) {
    throw new Error("not a JSON object");
  }
  return {
    resourceSpans: (root.resourceSpans ?? []).map((
      rs: Json,
    ): DecodedResourceSpans => ({
      resource: {
        attributes: jsonAttributes(rs.resource?.attributes),
        droppedAttributesCount: Number(
          rs.resource?.droppedAttributesCount ?? 0,
        ),
      },
      scopeSpans: (rs.scopeSpans ?? []).map((ss: Json): DecodedScopeSpans => ({
        scope: {
          name: ss.scope?.name ?? "",
          version: ss.scope?.version ?? "",
          attributes: jsonAttributes(ss.scope?.attributes),
          droppedAttributesCount: Number(ss.scope?.droppedAttributesCount ?? 0),
        },
        spans: (ss.spans ?? []).map(jsonSpan),
        schemaUrl: ss.schemaUrl ?? "",
      })),
      schemaUrl: rs.schemaUrl ?? "",
    })),
  };
}

// ---------------------------------------------------------------------------
// Flattened spans with plain attribute values.

/**
 * A plain attribute value: int64 becomes a `number` when it is a safe
 * integer and a `bigint` otherwise; double a `number`; bytes a `Uint8Array`;
 * kvlist a plain object; an empty AnyValue `null`.
 */
export type PlainValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | null
  | PlainValue[]
  | { [key: string]: PlainValue };

/** One received span, flattened, with its resource and scope. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** `""` when the span has no parent. */
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, PlainValue>;
  events: {
    name: string;
    timeNs: bigint;
    attributes: Record<string, PlainValue>;
  }[];
  links: DecodedLink[];
  status: { code: number; message: string };
  flags: number;
  droppedAttributesCount: number;
  droppedEventsCount: number;
  droppedLinksCount: number;
  resource: Record<string, PlainValue>;
  scope: { name: string; version: string };
  /** Index into the receiver's `requests` of the request that carried it. */
  requestIndex: number;
}

/** A decoded AnyValue as a plain value (see {@linkcode PlainValue}). */
export function plainValue(v: DecodedAnyValue): PlainValue {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) {
    const n = Number(v.intValue);
    return Number.isSafeInteger(n) ? n : v.intValue;
  }
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return v.arrayValue.values.map(plainValue);
  if (v.kvlistValue) return plainAttributes(v.kvlistValue.values);
  return null;
}

/** Decoded KeyValues as a plain object (a repeated key: the last wins). */
export function plainAttributes(
  kvs: DecodedKeyValue[],
): Record<string, PlainValue> {
  const out: Record<string, PlainValue> = {};
  for (const kv of kvs) out[kv.key] = plainValue(kv.value);
  return out;
}

/** Every span of a decoded request, flattened. */
export function flattenSpans(
  req: DecodedTraceRequest,
  requestIndex = -1,
): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of req.resourceSpans) {
    const resource = plainAttributes(rs.resource.attributes);
    for (const ss of rs.scopeSpans) {
      const scope = { name: ss.scope.name, version: ss.scope.version };
      for (const s of ss.spans) {
        out.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId,
          traceState: s.traceState,
          name: s.name,
          kind: s.kind,
          startNs: s.startTimeUnixNano,
          endNs: s.endTimeUnixNano,
          attributes: plainAttributes(s.attributes),
          events: s.events.map((e) => ({
            name: e.name,
            timeNs: e.timeUnixNano,
            attributes: plainAttributes(e.attributes),
          })),
          links: s.links,
          status: { ...s.status },
          flags: s.flags,
          droppedAttributesCount: s.droppedAttributesCount,
          droppedEventsCount: s.droppedEventsCount,
          droppedLinksCount: s.droppedLinksCount,
          resource,
          scope,
          requestIndex,
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// The receiver.

/**
 * How the receiver answers. `times` makes a behavior apply to that many
 * requests, after which the next queued one (or "ok") takes over; without it
 * a behavior stays until replaced.
 */
export type ReceiverBehavior =
  | "ok"
  | "down"
  | { kind: "ok"; times?: number }
  /** Stop listening: connections are refused until another behavior is set. */
  | { kind: "down" }
  /** Answer `status` (spans not accepted), with an optional `Retry-After`. */
  | {
    kind: "status";
    status: number;
    retryAfter?: number | string;
    body?: string;
    times?: number;
  }
  /** Accept, but answer only after `delayMs`. */
  | { kind: "slow"; delayMs: number; times?: number }
  /** Accept, answering 200 with `partial_success`. */
  | {
    kind: "partial";
    rejectedSpans: number;
    errorMessage?: string;
    times?: number;
  };

/** What the receiver saw of one request. */
export interface ReceivedRequest {
  /** `Date.now()` at arrival. */
  arrivedAt: number;
  /** `performance.now()` at arrival, for precise intervals. */
  arrivedAtPerf: number;
  method: string;
  path: string;
  contentType: string;
  contentEncoding: string;
  /** All request headers, names lowercased. */
  headers: Record<string, string>;
  /** Body size on the wire and after decompression. */
  wireBytes: number;
  bodyBytes: number;
  /** The decompressed body. */
  body: Uint8Array;
  /** The decoded request, when it could be decoded. */
  decoded?: DecodedTraceRequest;
  spanCount: number;
  /** Whether the spans were accepted (and added to `spans`). */
  accepted: boolean;
  /** The status answered. */
  status: number;
  /** Which behavior answered. */
  behavior: string;
  error?: string;
}

/** Options of {@linkcode startOtlpReceiver}. */
export interface OtlpReceiverOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Path to serve; `/v1/traces` by default. */
  path?: string;
  /** The initial behavior; "ok" by default. */
  behavior?: ReceiverBehavior | ReceiverBehavior[];
}

/** A running receiver. */
export interface OtlpReceiver {
  /** The full traces URL, e.g. `http://127.0.0.1:40123/v1/traces`. */
  readonly url: string;
  /** The base URL an OTLP client is given (`--endpoint`, `OTEL_EXPORTER_OTLP_ENDPOINT`), e.g. `http://127.0.0.1:40123`. */
  readonly baseUrl: string;
  readonly port: number;
  /** Every accepted span, in arrival order. */
  readonly spans: ReceivedSpan[];
  /** Every request, in arrival order. */
  readonly requests: ReceivedRequest[];
  /**
   * Every decoded `/v1/metrics` request, in arrival order. Metrics requests
   * are answered 200 whatever the behavior, and are not in `requests`.
   */
  readonly metricRequests: DecodedMetricsRequest[];
  /** Resolves once at least `n` metrics requests arrived; rejects after `timeoutMs` (5 s). */
  waitForMetricRequests(n: number, timeoutMs?: number): Promise<DecodedMetricsRequest[]>;
  /** Resolves with `spans` once at least `n` arrived; rejects after `timeoutMs` (5 s). */
  waitForSpans(n: number, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** Resolves once at least `n` requests arrived; rejects after `timeoutMs` (5 s). */
  waitForRequests(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /**
   * Replace the behavior (a list is applied in order, see
   * {@linkcode ReceiverBehavior}). Resolves once the listener state matches
   * (closed for "down", listening otherwise).
   */
  setBehavior(b: ReceiverBehavior | ReceiverBehavior[]): Promise<void>;
  /** Forget recorded spans and requests. */
  clear(): void;
  /** Stop listening and cancel pending waits. Idempotent. */
  close(): Promise<void>;
}

type Normalized = Exclude<ReceiverBehavior, string>;

function normalize(b: ReceiverBehavior): Normalized {
  return typeof b === "string" ? { kind: b } : b;
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const textEncoder = new TextEncoder();

function partialSuccessProto(rejected: number, message: string): Uint8Array {
  const inner: number[] = [];
  const varint = (out: number[], v: number) => {
    while (v > 127) {
      out.push((v & 127) | 128);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  if (rejected) {
    inner.push(0x08);
    varint(inner, rejected);
  }
  if (message) {
    const m = textEncoder.encode(message);
    inner.push(0x12);
    varint(inner, m.length);
    inner.push(...m);
  }
  const out: number[] = [0x0a];
  varint(out, inner.length);
  out.push(...inner);
  return new Uint8Array(out);
}

/** Start a receiver on 127.0.0.1. */
export async function startOtlpReceiver(
  opts: OtlpReceiverOptions = {},
): Promise<OtlpReceiver> {
  const path = opts.path ?? "/v1/traces";
  const spans: ReceivedSpan[] = [];
  const requests: ReceivedRequest[] = [];
  const metricRequests: DecodedMetricsRequest[] = [];
  let queue: Normalized[] = [];
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let port = opts.port ?? 0;
  let closed = false;
  const abort = new AbortController();
  const waiters = new Set<() => void>();

  const notify = () => {
    for (const w of [...waiters]) w();
  };

  function current(): Normalized {
    return queue[0] ?? { kind: "ok" };
  }

  function consume(): Normalized {
    const b = current();
    if ("times" in b && b.times !== undefined) {
      const left = b.times - 1;
      if (left <= 0) queue.shift();
      else queue[0] = { ...b, times: left } as Normalized;
    }
    return b;
  }

  function respond(
    record: ReceivedRequest,
    isJson: boolean,
    status: number,
    body: BodyInit | null,
    headers: Record<string, string> = {},
  ): Response {
    record.status = status;
    const contentType = isJson ? "application/json" : "application/x-protobuf";
    return new Response(body, {
      status,
      headers: { "content-type": contentType, ...headers },
    });
  }

  /** `/v1/metrics`: decoded into `metricRequests`, answered 200 (400 when it does not decode). */
  async function handleMetrics(req: Request): Promise<Response> {
    const contentType = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    const isJson = contentType === "application/json";
    let body: Uint8Array = new Uint8Array(await req.arrayBuffer());
    try {
      if ((req.headers.get("content-encoding") ?? "").toLowerCase() === "gzip") body = await gunzip(body);
      metricRequests.push(
        isJson ? decodeMetricsRequestJson(new TextDecoder().decode(body)) : decodeMetricsRequestProto(body),
      );
    } catch (e) {
      return new Response(String(e), { status: 400 });
    }
    notify();
    return new Response(isJson ? "{}" : new Uint8Array(0) as Uint8Array<ArrayBuffer>, {
      status: 200,
      headers: { "content-type": isJson ? "application/json" : "application/x-protobuf" },
    });
  }

  async function handle(req: Request): Promise<Response> {
    if (req.method === "POST" && new URL(req.url).pathname === "/v1/metrics" && path !== "/v1/metrics") {
      return await handleMetrics(req);
    }
    const arrivedAt = Date.now();
    const arrivedAtPerf = performance.now();
    const url = new URL(req.url);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => headers[k] = v);
    const contentType = (headers["content-type"] ?? "").split(";")[0].trim()
      .toLowerCase();
    const contentEncoding = (headers["content-encoding"] ?? "").toLowerCase();
    const raw = new Uint8Array(await req.arrayBuffer());
    const record: ReceivedRequest = {
      arrivedAt,
      arrivedAtPerf,
      method: req.method,
      path: url.pathname,
      contentType,
      contentEncoding,
      headers,
      wireBytes: raw.length,
      bodyBytes: raw.length,
      body: raw,
      spanCount: 0,
      accepted: false,
      status: 0,
      behavior: "",
    };
    const index = requests.length;
    requests.push(record);
    notify();
    const isJson = contentType === "application/json";
    if (req.method !== "POST") return respond(record, isJson, 405, null);
    if (url.pathname !== path) return respond(record, isJson, 404, null);
    if (!isJson && contentType !== "application/x-protobuf") {
      record.error = `unsupported content-type ${contentType}`;
      return respond(record, isJson, 415, null);
    }
    let decodedSpans: ReceivedSpan[];
    try {
      let body: Uint8Array = raw;
      if (contentEncoding === "gzip") body = await gunzip(raw);
      else if (contentEncoding && contentEncoding !== "identity") {
        throw new Error(`unsupported content-encoding ${contentEncoding}`);
      }
      record.body = body;
      record.bodyBytes = body.length;
      record.decoded = isJson ? decodeTraceRequestJson(new TextDecoder().decode(body)) : decodeTraceRequestProto(body);
      decodedSpans = flattenSpans(record.decoded, index);
      record.spanCount = decodedSpans.length;
    } catch (e) {
      record.error = e instanceof Error ? e.message : String(e);
      return respond(record, isJson, 400, null);
    }

    const b = consume();
    record.behavior = b.kind;
    if (b.kind === "status") {
      const extra: Record<string, string> = {};
      if (b.retryAfter !== undefined) {
        extra["retry-after"] = String(b.retryAfter);
      }
      return respond(record, isJson, b.status, b.body ?? null, extra);
    }
    if (b.kind === "slow") {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, b.delayMs);
        function done() {
          clearTimeout(t);
          abort.signal.removeEventListener("abort", done);
          resolve();
        }
        abort.signal.addEventListener("abort", done);
      });
    }
    record.accepted = true;
    spans.push(...decodedSpans);
    notify();
    if (b.kind === "partial") {
      const message = b.errorMessage ?? "";
      const body = isJson
        ? JSON.stringify({
          partialSuccess: {
            rejectedSpans: String(b.rejectedSpans),
            errorMessage: message,
          },
        })
        : partialSuccessProto(b.rejectedSpans, message);
      return respond(
        record,
        isJson,
        200,
        body as BodyInit,
      );
    }
    return respond(
      record,
      isJson,
      200,
      isJson ? "{}" : new Uint8Array(0) as Uint8Array<ArrayBuffer>,
    );
  }

  async function listen(): Promise<void> {
    if (server || closed) return;
    const ready = Promise.withResolvers<Deno.NetAddr>();
    server = Deno.serve({
      hostname: "127.0.0.1",
      port,
      onListen: (addr) => ready.resolve(addr as Deno.NetAddr),
      onError: (e) => new Response(String(e), { status: 500 }),
    }, handle);
    port = (await ready.promise).port;
  }

  async function stop(): Promise<void> {
    const s = server;
    server = undefined;
    if (s) await s.shutdown();
  }

  async function waitFor<T>(
    ready: () => boolean,
    value: () => T,
    what: string,
    timeoutMs: number,
  ): Promise<T> {
    if (ready()) return value();
    if (closed) throw new Error("receiver closed");
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const check = () => {
      if (ready()) finish(() => resolve(value()));
      else if (closed) finish(() => reject(new Error("receiver closed")));
    };
    const timer = setTimeout(
      () => finish(() => reject(new Error(`timed out waiting for ${what}`))),
      timeoutMs,
    );
    function finish(f: () => void) {
      clearTimeout(timer);
      waiters.delete(check);
      f();
    }
    waiters.add(check);
    return await promise;
  }

  async function setBehavior(
    b: ReceiverBehavior | ReceiverBehavior[],
  ): Promise<void> {
    queue = (Array.isArray(b) ? b : [b]).map(normalize);
    if (current().kind === "down") await stop();
    else await listen();
  }

  queue = (Array.isArray(opts.behavior) ? opts.behavior : [opts.behavior ?? "ok"])
    .map(normalize);
  if (current().kind !== "down") await listen();
  else {
    // Reserve a port so `url` is meaningful while down.
    if (!port) {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      port = (l.addr as Deno.NetAddr).port;
      l.close();
    }
  }

  return {
    get url() {
      return `http://127.0.0.1:${port}${path}`;
    },
    get baseUrl() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    spans,
    requests,
    metricRequests,
    waitForMetricRequests: (n, timeoutMs = 5000) =>
      waitFor(() => metricRequests.length >= n, () => metricRequests, `${n} metrics requests`, timeoutMs),
    waitForSpans: (n, timeoutMs = 5000) => waitFor(() => spans.length >= n, () => spans, `${n} spans`, timeoutMs),
    waitForRequests: (n, timeoutMs = 5000) =>
      waitFor(
        () => requests.length >= n,
        () => requests,
        `${n} requests`,
        timeoutMs,
      ),
    setBehavior,
    clear() {
      spans.length = 0;
      requests.length = 0;
      metricRequests.length = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      abort.abort();
      notify();
      await stop();
    },
  };
}

// ---------------------------------------------------------------------------
// Cross-checking against the OpenTelemetry JS reference serializers.

/** The span type `@opentelemetry/otlp-transformer` serializers take. */
export type ReferenceSpan = Parameters<
  typeof ProtobufTraceSerializer.serializeRequest
>[0][number];

const NS_PER_S = 1_000_000_000n;

function hrTime(ns: bigint): [number, number] {
  return [Number(ns / NS_PER_S), Number(ns % NS_PER_S)];
}

/**
 * The same spans as OTel JS `ReadableSpan`s (one reference resource per
 * resource object, scope `{name: "spanprobe", version}`), for the reference
 * serializers. `bigint` attribute values become numbers (the reference has no
 * bigint), so keep them within the safe-integer range when cross-checking.
 */
export function toReferenceSpans(
  spans: readonly SpanData[],
  scopeVersion: string,
): ReferenceSpan[] {
  const resources = new Map<
    unknown,
    ReturnType<typeof resourceFromAttributes>
  >();
  const scope = { name: "spanprobe", version: scopeVersion };
  const attrs = (a: Attributes | undefined) => a ? refAttributes(a) : undefined;
  return spans.map((s) => {
    let resource = resources.get(s.resource);
    if (!resource) {
      resource = resourceFromAttributes(
        refAttributes(s.resource.attributes) as Record<string, never>,
      );
      resources.set(s.resource, resource);
    }
    const start = hrTime(s.startNs);
    const end = hrTime(s.endNs);
    return {
      name: s.name,
      kind: s.kind === 0 ? undefined : s.kind - 1,
      spanContext: () => ({
        traceId: s.traceId,
        spanId: s.spanId,
        traceFlags: 1,
      }),
      parentSpanContext: s.parentSpanId ? { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: 1 } : undefined,
      startTime: start,
      endTime: end,
      status: { code: s.status.code, message: s.status.message },
      attributes: attrs(s.attributes),
      links: [],
      events: (s.events ?? []).map((e) => ({
        name: e.name,
        time: hrTime(e.timeNs),
        attributes: attrs(e.attributes),
      })),
      duration: hrTime(s.endNs - s.startNs),
      ended: true,
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    } as unknown as ReferenceSpan;
  });
}

function refValue(v: AttributeValue): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(refValue);
  return v;
}

function refAttributes(a: Attributes): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in a) out[k] = refValue(a[k]);
  return out;
}

// ---------------------------------------------------------------------------
// Span fixtures for encoder tests.

/** Spans using every attribute type, events, statuses, parents and two resources. */
export function sampleSpans(): SpanData[] {
  const resourceA = {
    attributes: {
      "service.name": "checkout",
      "host.name": "node-1",
      "process.pid": 4242,
    },
  };
  const resourceB = { attributes: { "service.name": "db", "x.ratio": 0.5 } };
  return [
    {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      parentSpanId: "00f067aa0ba902b7",
      name: "GET /cart",
      kind: 2,
      startNs: 1795313354907507123n,
      endNs: 1795313354910010126n,
      attributes: {
        "str": "value",
        "empty": "",
        "unicode": "héllo ✓ 😀",
        "escapes": 'quote" backslash\\ newline\n tab\t nul\u0000 del\u007f',
        "t": true,
        "f": false,
        "int": 42,
        "zero": 0,
        "neg": -7,
        "big.safe": 9007199254740991,
        "double": 1.5,
        "neg.double": -0.25,
        "tiny": 5e-324,
        "bigint": 12345n,
        "bigint.neg": -98765n,
        "bytes": new Uint8Array([0, 1, 2, 253, 254, 255]),
        "no.bytes": new Uint8Array(0),
        "arr.str": ["a", "b", ""],
        "arr.int": [1, -2, 3],
        "arr.mixed": [1, "x", true, 2.5, new Uint8Array([9])],
        "arr.nested": [["in", 1], []],
        "arr.empty": [],
      },
      status: { code: 2, message: "upstream failed: 503" },
      events: [
        {
          name: "exception",
          timeNs: 1795313354908000001n,
          attributes: { "exception.type": "Error", "retry": 3 },
        },
        { name: "no attributes", timeNs: 1795313354909000000n },
      ],
      resource: resourceA,
    },
    {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "00f067aa0ba902b7",
      name: "root",
      kind: 1,
      startNs: 1795313354900000000n,
      endNs: 1795313354999999999n,
      attributes: {},
      status: { code: 1 },
      resource: resourceA,
    },
    {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b8",
      name: "SELECT",
      kind: 3,
      startNs: 1n,
      endNs: 18446744073709551615n,
      attributes: { "db.statement": "SELECT 1" },
      status: { code: 0 },
      events: [],
      resource: resourceB,
    },
    {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b9",
      parentSpanId: "00f067aa0ba902b8",
      name: "",
      kind: 0,
      startNs: 0n,
      endNs: 0n,
      attributes: { "k": "v" },
      status: { code: 0, message: "unset but with a message" },
      resource: resourceA,
    },
    {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902ba",
      name: "produce",
      kind: 4,
      startNs: 1795313354907507123n,
      endNs: 1795313354907507124n,
      attributes: {},
      status: { code: 0 },
      resource: resourceB,
    },
    {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902bb",
      name: "consume",
      kind: 5,
      startNs: 1795313354907507123n,
      endNs: 1795313354907507124n,
      attributes: {},
      status: { code: 0 },
      resource: resourceB,
    },
  ];
}

/** A small deterministic PRNG (mulberry32) returning [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` pseudo-random spans (seeded). With `bigints`, attribute values include
 * bigints anywhere in and beyond int64 range (the reference cannot take those).
 */
export function randomSpans(
  n: number,
  seed: number,
  opts: { bigints?: boolean } = {},
): SpanData[] {
  const rnd = prng(seed);
  const int = (max: number) => Math.floor(rnd() * max);
  const hexId = (bytes: number) => {
    let s = "";
    for (let i = 0; i < bytes; i++) s += (1 + int(255)).toString(16).padStart(2, "0");
    return s;
  };
  const chars = ["a", "Z", "0", " ", "é", "✓", "😀", '"', "\\", "\n", "/", "\u0001"];
  const str = (max: number) => {
    let s = "";
    const len = int(max);
    for (let i = 0; i < len; i++) s += chars[int(chars.length)];
    return s;
  };
  const value = (depth: number): AttributeValue => {
    switch (int(opts.bigints ? 9 : 8)) {
      case 0:
        return str(40);
      case 1:
        return rnd() < 0.5;
      case 2:
        return int(2 ** 31) - 2 ** 30;
      case 3:
        return (rnd() - 0.5) * 10 ** int(30);
      case 4:
        return Math.floor((rnd() - 0.5) * 2 ** 62);
      case 5: {
        const b = new Uint8Array(int(20));
        for (let i = 0; i < b.length; i++) b[i] = int(256);
        return b;
      }
      case 6: {
        if (depth > 1) return str(5);
        const a: AttributeValue[] = [];
        const len = int(5);
        for (let i = 0; i < len; i++) a.push(value(depth + 1));
        return a;
      }
      case 7:
        return str(300);
      default: {
        const big = BigInt(Math.floor(rnd() * 2 ** 52)) << BigInt(int(70));
        return rnd() < 0.5 ? big : -big;
      }
    }
  };
  const resources: Resource[] = [
    { attributes: { "service.name": "r1" } },
    { attributes: { "service.name": "r2", "n": 1 } },
  ];
  const spans: SpanData[] = [];
  for (let i = 0; i < n; i++) {
    const attributes: Attributes = {};
    const count = int(8);
    for (let j = 0; j < count; j++) attributes[`k${j}.${str(3)}`] = value(0);
    const start = 1795313354907507123n + BigInt(int(2 ** 40));
    spans.push({
      traceId: hexId(16),
      spanId: hexId(8),
      parentSpanId: rnd() < 0.5 ? hexId(8) : undefined,
      name: str(30),
      kind: int(6) as SpanData["kind"],
      startNs: start,
      endNs: start + BigInt(int(2 ** 40)),
      attributes,
      status: rnd() < 0.3 ? { code: 2, message: str(20) } : { code: int(2) as 0 | 1 },
      events: rnd() < 0.3 ? [{ name: str(10), timeNs: start + 5n, attributes: { e: value(0) } }] : undefined,
      resource: resources[int(2)],
    });
  }
  return spans;
}

/** The AnyValue our encoders should produce for `v` (the documented mapping). */
export function expectedAnyValue(v: AttributeValue): DecodedAnyValue {
  switch (typeof v) {
    case "string":
      return { stringValue: v };
    case "boolean":
      return { boolValue: v };
    case "number":
      return Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63 ? { intValue: BigInt(v) } : { doubleValue: v };
    case "bigint":
      return v >= -(2n ** 63n) && v < 2n ** 63n ? { intValue: v } : { stringValue: v.toString() };
  }
  if (v instanceof Uint8Array) return { bytesValue: v };
  return { arrayValue: { values: v.map(expectedAnyValue) } };
}

function expectedAttributes(a: Attributes | undefined): DecodedKeyValue[] {
  return Object.entries(a ?? {}).map(([key, v]) => ({
    key,
    value: expectedAnyValue(v),
  }));
}

/**
 * The decoded request our encoders should produce for `spans`: the reference
 * model of the SpanData → OTLP mapping, independent of both encoders.
 */
export function expectedRequest(
  spans: readonly SpanData[],
  scopeVersion: string,
): DecodedTraceRequest {
  const groups = new Map<Resource, SpanData[]>();
  for (const s of spans) {
    const list = groups.get(s.resource) ?? [];
    list.push(s);
    groups.set(s.resource, list);
  }
  return {
    resourceSpans: [...groups].map(([resource, group]) => ({
      resource: {
        attributes: expectedAttributes(resource.attributes),
        droppedAttributesCount: 0,
      },
      scopeSpans: [{
        scope: {
          name: "spanprobe",
          version: scopeVersion,
          attributes: [],
          droppedAttributesCount: 0,
        },
        spans: group.map((s): DecodedSpan => ({
          traceId: s.traceId,
          spanId: s.spanId,
          traceState: "",
          parentSpanId: s.parentSpanId && !/^0*$/.test(s.parentSpanId) ? s.parentSpanId : "",
          flags: 257,
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: BigInt.asUintN(64, s.startNs),
          endTimeUnixNano: BigInt.asUintN(64, s.endNs),
          attributes: expectedAttributes(s.attributes),
          droppedAttributesCount: 0,
          events: (s.events ?? []).map((e) => ({
            timeUnixNano: BigInt.asUintN(64, e.timeNs),
            name: e.name,
            attributes: expectedAttributes(e.attributes),
            droppedAttributesCount: 0,
          })),
          droppedEventsCount: 0,
          links: [],
          droppedLinksCount: 0,
          status: { message: s.status.message ?? "", code: s.status.code },
        })),
        schemaUrl: "",
      }],
      schemaUrl: "",
    })),
  };
}
