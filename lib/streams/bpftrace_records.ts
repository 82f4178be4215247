/**
 * bpftrace `-f json` lines to typed records. Understands the shapes of
 * bpftrace 0.17 and ≥ 0.24 (lost events with `count`, big integers as
 * strings, error/warning records). Malformed lines are counted, reported
 * through `onMalformed`, and skipped.
 * @module
 */
import { type ExactValue, parseExact, scanFlatTuple, scanTupleBytes } from "./exact_json.ts";
import { type LineBatch, lineOf } from "./lines.ts";

/** One parsed bpftrace output record. */
export type BpftraceRecord =
  /** `print((a, b, ...))`: the tuple's elements. */
  | { type: "tuple"; values: ExactValue[] }
  /** `print(x)` of a non-tuple value. */
  | { type: "value"; value: ExactValue }
  /** `printf(...)` output, newline included. */
  | { type: "printf"; text: string }
  /** Probes announced (not yet attached: see the bpftrace source). */
  | { type: "attached_probes"; probes: number }
  /** Events the kernel dropped before bpftrace read them. */
  | { type: "lost_events"; count: bigint }
  /** An error or warning bpftrace reported as a record. */
  | { type: "message"; level: "error" | "warning"; text: string }
  /** Anything else (maps, histograms, stats, time, join...). */
  | { type: "other"; kind: string };

function asCount(v: ExactValue | undefined): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^\d+$/.test(v)) return BigInt(v);
  throw new SyntaxError("lost_events without a count");
}

// printf and message text is for people: bytes that are not UTF-8 become U+FFFD
const lossyUtf8 = new TextDecoder();

function messageText(data: ExactValue | undefined): string {
  if (typeof data === "string") return data.trimEnd();
  if (data instanceof Uint8Array) return lossyUtf8.decode(data).trimEnd();
  if (data && typeof data === "object" && !(data instanceof Uint8Array)) {
    const msg = (data as Record<string, ExactValue>).msg ??
      (data as Record<string, ExactValue>).message;
    if (typeof msg === "string") return msg.trimEnd();
  }
  return JSON.stringify(data, (_k, v) => typeof v === "bigint" ? `${v}` : v);
}

/** Parses one line. Throws SyntaxError for malformed or non-record JSON. */
export function parseBpftraceLine(line: string): BpftraceRecord {
  const flat = scanFlatTuple(line);
  if (flat) return { type: "tuple", values: flat };
  return parseRecord(line);
}

/** Parses line `i` of a batch, scanning its bytes when the batch has them. Throws like {@linkcode parseBpftraceLine}. */
export function parseBpftraceLineAt(batch: LineBatch, i: number): BpftraceRecord {
  if (!batch.bytes) return parseBpftraceLine(lineOf(batch, i));
  const flat = scanTupleBytes(batch.bytes, batch.starts[i], batch.ends[i], batch.text);
  if (flat) return { type: "tuple", values: flat };
  return parseRecord(lineOf(batch, i));
}

/** Any record but a flat tuple. */
function parseRecord(line: string): BpftraceRecord {
  const parsed = parseExact(line);
  if (
    !parsed || typeof parsed !== "object" || Array.isArray(parsed) ||
    parsed instanceof Uint8Array
  ) {
    throw new SyntaxError("not a bpftrace record object");
  }
  const type = parsed.type;
  const data = parsed.data;
  switch (type) {
    case "value":
      return Array.isArray(data) ? { type: "tuple", values: data } : { type: "value", value: data ?? null };
    case "printf":
      // non-UTF-8 bytes printed with %s arrive as bytes: still a printf record
      if (data instanceof Uint8Array) {
        return { type: "printf", text: lossyUtf8.decode(data) };
      }
      if (typeof data !== "string") {
        throw new SyntaxError("printf without text");
      }
      return { type: "printf", text: data };
    case "attached_probes": {
      const probes = (data as Record<string, ExactValue> | null)?.probes;
      return { type: "attached_probes", probes: Number(probes ?? 0) };
    }
    case "lost_events": {
      const d = data as Record<string, ExactValue> | null;
      return { type: "lost_events", count: asCount(d?.count ?? d?.events) };
    }
    case "error":
    case "warning":
      return { type: "message", level: type, text: messageText(data) };
    default:
      if (typeof type !== "string") {
        throw new SyntaxError("record without type");
      }
      return { type: "other", kind: type };
  }
}

/** Callbacks of {@linkcode bpftraceRecordParser}. */
export interface RecordParserHooks {
  /** A line that could not be parsed (already excluded from the output). */
  onMalformed?: (line: string, error: Error) => void;
}

/** lines → records, one output batch per input batch. */
export function bpftraceRecordParser(
  hooks: RecordParserHooks = {},
): TransformStream<LineBatch, BpftraceRecord[]> {
  return new TransformStream<LineBatch, BpftraceRecord[]>({
    transform(batch, controller) {
      const out: BpftraceRecord[] = [];
      const n = batch.starts.length;
      for (let i = 0; i < n; i++) {
        try {
          out.push(parseBpftraceLineAt(batch, i));
        } catch (e) {
          hooks.onMalformed?.(lineOf(batch, i), e as Error);
        }
      }
      if (out.length) controller.enqueue(out);
    },
  });
}
