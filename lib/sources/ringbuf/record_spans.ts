/**
 * Ring-buffer records to spans, by a span config (ebpf_exporter's rules):
 * labels are decoded in order; special labels give the ids, times and name;
 * every other label becomes an attribute. An all-zero span id is generated,
 * an all-zero parent makes a root span, an all-zero trace id starts a new
 * trace. Monotonic timestamps become wall-clock ns with the shared clock
 * offsets. The common layout (ids as `hex`, times as 8-byte `uint`) takes a
 * fast path without intermediate strings.
 * @module
 */
import type { SpanConfig } from "../../config/tracing_config.ts";
import { hexOf } from "../../core/hex.ts";
import { readU64 } from "../../decoders/bytes.ts";
import { chainDecoders, createDecoder, DecodeError, type DecoderEnv } from "../../decoders/mod.ts";
import { newSpanId, newTraceId } from "../../core/ids.ts";
import { type Attributes, type Resource, type SpanData, SpanKind, StatusCode } from "../../core/span_data.ts";

const ZERO8 = "0000000000000000";
const ZERO16 = ZERO8 + ZERO8;
/** The largest time OTLP can carry (fixed64). */
const U64_MAX = (1n << 64n) - 1n;
/** The statuses of ring-buffer spans by code (shared, frozen: one allocation less per span). */
const STATUSES = [
  Object.freeze({ code: StatusCode.UNSET }),
  Object.freeze({ code: StatusCode.OK }),
  Object.freeze({ code: StatusCode.ERROR }),
] as const;
const UNSET_STATUS = STATUSES[0];
/** `span_status_code` values as text (after a static_map, say) and their codes. */
const STATUS_NAMES: Readonly<Record<string, number>> = { unset: 0, ok: 1, error: 2, "0": 0, "1": 1, "2": 2 };

/** The span status for a decoded `span_status_code`: 0/unset, 1/ok, 2/error (OTLP's codes). */
export function statusOf(v: unknown): (typeof STATUSES)[number] {
  const code = typeof v === "number" || typeof v === "bigint" ? Number(v) : STATUS_NAMES[String(v).toLowerCase()];
  if (code !== 0 && code !== 1 && code !== 2) {
    throw new DecodeError(
      `span_status_code: expected 0 (unset), 1 (ok) or 2 (error), got ${JSON.stringify(String(v))}`,
    );
  }
  return STATUSES[code];
}

/** Decodes the records of one span config. */
export interface RecordDecoder {
  readonly config: SpanConfig;
  /**
   * The span of the record at `data[off, off + len)`, or `null` when a
   * decoder skipped it (e.g. `regexp`). Throws DecodeError on a bad record.
   * `wallOffsetNs` is wall − monotonic; `nowNs` is used when the record has
   * no timestamp label.
   */
  decode(data: Uint8Array, off: number, len: number, wallOffsetNs: bigint, nowNs?: () => bigint): SpanData | null;
}

/** Work state of one record being decoded (one per decoder, reused). */
interface Draft {
  traceId: string;
  parentSpanId: string;
  spanId: string;
  ts: bigint | undefined;
  dur: bigint;
  name: string;
  status: SpanData["status"];
  attributes: Attributes;
}

type Step = (buf: Uint8Array, off: number, d: Draft) => boolean;

/** Byte offsets of special labels read without decoder chains (−1: not on the fast path). */
interface FastPath {
  trace: number;
  parent: number;
  span: number;
  ts: number;
  dur: number;
}

function allZero(buf: Uint8Array, off: number, len: number): boolean {
  for (let i = off, end = off + len; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}

function hexText(v: unknown, bytes: number, label: string): string {
  const s = String(v);
  if (!new RegExp(`^[0-9a-f]{${2 * bytes}}$`).test(s)) {
    throw new DecodeError(`${label}: expected ${2 * bytes} hex digits, got ${JSON.stringify(s)}`);
  }
  return s;
}

function bigText(v: unknown, label: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^\d+$/.test(v)) return BigInt(v);
  throw new DecodeError(`${label}: expected an unsigned integer, got ${JSON.stringify(v)}`);
}

/**
 * Compiles `config` into a record decoder whose spans carry `resource`.
 * Records longer than the labels are decoded by their labelled prefix (as
 * ebpf_exporter does); `onLongRecord` hears of the first such record, with
 * its length. Shorter records are a DecodeError.
 */
export function compileRecordDecoder(
  config: SpanConfig,
  resource: Resource,
  env: DecoderEnv = {},
  onLongRecord?: (len: number) => void,
): RecordDecoder {
  const steps: Step[] = [];
  const fast: FastPath = { trace: -1, parent: -1, span: -1, ts: -1, dur: -1 };
  let pos = 0;
  for (const label of config.labels) {
    const at = pos;
    pos += label.size + label.padding;
    const only = label.decoders.length === 1 ? label.decoders[0].name : undefined;
    const decoders = label.decoders.map((d) => createDecoder(d, env));
    const chain = chainDecoders(decoders, label.size, true);
    const name = label.name;
    switch (name) {
      case "trace_id":
        if (only === "hex" && label.size === 16) fast.trace = at;
        else {
          steps.push((b, o, d) => {
            const v = chain(b, o + at);
            if (v === null) return false;
            d.traceId = hexText(v, 16, name);
            return true;
          });
        }
        break;
      case "span_id":
      case "parent_span_id": {
        const isSpan = name === "span_id";
        if (only === "hex" && label.size === 8) {
          if (isSpan) fast.span = at;
          else fast.parent = at;
        } else {
          steps.push((b, o, d) => {
            const v = chain(b, o + at);
            if (v === null) return false;
            if (isSpan) d.spanId = hexText(v, 8, name);
            else d.parentSpanId = hexText(v, 8, name);
            return true;
          });
        }
        break;
      }
      case "span_monotonic_timestamp_ns":
      case "span_duration_ns": {
        const isTs = name === "span_monotonic_timestamp_ns";
        if (only === "uint" && label.size === 8) {
          if (isTs) fast.ts = at;
          else fast.dur = at;
        } else {
          steps.push((b, o, d) => {
            const v = chain(b, o + at);
            if (v === null) return false;
            const n = bigText(v, name);
            if (isTs) d.ts = n;
            else d.dur = n;
            return true;
          });
        }
        break;
      }
      case "span_status_code":
        steps.push((b, o, d) => {
          const v = chain(b, o + at);
          if (v === null) return false;
          d.status = statusOf(v);
          return true;
        });
        break;
      case "span_name":
        steps.push((b, o, d) => {
          const v = chain(b, o + at);
          if (v === null) return false;
          d.name = String(v);
          return true;
        });
        break;
      default:
        steps.push((b, o, d) => {
          const v = chain(b, o + at);
          if (v === null) return false;
          d.attributes[name] = v;
          return true;
        });
    }
  }
  const recordSize = config.recordSize;
  const defaultName = config.name;
  const stepCount = steps.length;
  let longSeen = false;
  const d: Draft = {
    traceId: "",
    parentSpanId: "",
    spanId: "",
    ts: undefined,
    dur: 0n,
    name: "",
    status: UNSET_STATUS,
    attributes: {},
  };

  return {
    config,
    decode(data, off, len, wallOffsetNs, nowNs) {
      if (len > recordSize) {
        if (!longSeen) {
          longSeen = true;
          onLongRecord?.(len);
        }
      } else if (len < recordSize) {
        throw new DecodeError(
          `record of ${len} bytes in ring buffer "${config.ringbuf}", but span "${config.name}" ` +
            `(${config.where}) has labels for ${recordSize} bytes`,
        );
      }
      // Fast path: ids as hex straight from the bytes, zero checks on the bytes.
      d.traceId = fast.trace < 0 || allZero(data, off + fast.trace, 16) ? ZERO16 : hexOf(data, off + fast.trace, 16);
      d.parentSpanId = fast.parent < 0 || allZero(data, off + fast.parent, 8)
        ? ZERO8
        : hexOf(data, off + fast.parent, 8);
      d.spanId = fast.span < 0 || allZero(data, off + fast.span, 8) ? ZERO8 : hexOf(data, off + fast.span, 8);
      d.ts = fast.ts < 0 ? undefined : readU64(data, off + fast.ts);
      d.dur = fast.dur < 0 ? 0n : readU64(data, off + fast.dur);
      d.name = defaultName;
      d.status = UNSET_STATUS;
      d.attributes = {};
      for (let i = 0; i < stepCount; i++) {
        if (!steps[i](data, off, d)) return null;
      }
      let traceId = d.traceId;
      let parent: string | undefined = d.parentSpanId;
      if (traceId === ZERO16) {
        traceId = newTraceId();
        parent = undefined;
      } else if (parent === ZERO8) {
        parent = undefined;
      }
      const startNs = d.ts === undefined ? (nowNs ? nowNs() : BigInt(Date.now()) * 1_000_000n) : d.ts + wallOffsetNs;
      const endNs = d.dur === 0n ? startNs : startNs + d.dur;
      // OTLP times are unsigned 64-bit: a corrupted timestamp or duration would wrap around on the wire
      if (endNs > U64_MAX || startNs < 0n) {
        throw new DecodeError(
          `span times out of range in ring buffer "${config.ringbuf}": start ${startNs} ns + duration ${d.dur} ns ` +
            `exceeds 2^64 - 1 (a corrupted record?)`,
        );
      }
      const span: SpanData = {
        traceId,
        spanId: d.spanId === ZERO8 ? newSpanId() : d.spanId,
        name: d.name,
        kind: SpanKind.INTERNAL,
        startNs,
        endNs,
        attributes: d.attributes,
        status: d.status,
        resource,
      };
      if (parent !== undefined) span.parentSpanId = parent;
      return span;
    },
  };
}
