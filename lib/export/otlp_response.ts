/**
 * Reading what an OTLP/HTTP server answers: `partial_success` of an
 * `ExportTraceServiceResponse` (protobuf or JSON), the message of an error
 * body (`google.rpc.Status` or JSON), and `Retry-After`.
 * @module
 */

/** The parts of an export response a client acts on. */
export interface ExportResponseInfo {
  /** Spans the server rejected (`partial_success.rejected_spans`). */
  rejectedSpans?: number;
  /** The server's explanation (`partial_success.error_message` or `Status.message`). */
  errorMessage?: string;
}

const utf8 = new TextDecoder();

/** A minimal protobuf reader: calls `onField` for each field of one message level. */
function readFields(
  bytes: Uint8Array,
  onField: (field: number, wire: number, value: bigint | Uint8Array) => void,
): void {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= bytes.length || shift > 63n) throw new Error("bad varint");
      const b = bytes[pos++];
      result |= BigInt(b & 127) << shift;
      if (b < 128) return result;
      shift += 7n;
    }
  };
  while (pos < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) onField(field, wire, varint());
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > bytes.length) throw new Error("truncated field");
      onField(field, wire, bytes.subarray(pos, pos + len));
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  if (pos > bytes.length) throw new Error("truncated field");
}

function isJson(contentType: string | null): boolean {
  return !!contentType && /\bjson\b/i.test(contentType);
}

/**
 * `partial_success` of a successful export response; `{}` when there is none
 * or the body cannot be read. `contentType` picks the format (protobuf when
 * it does not say JSON).
 */
export function parseExportResponse(body: Uint8Array, contentType: string | null): ExportResponseInfo {
  if (body.length === 0) return {};
  try {
    if (isJson(contentType)) {
      const partial = JSON.parse(utf8.decode(body))?.partialSuccess;
      if (!partial || typeof partial !== "object") return {};
      const info: ExportResponseInfo = {};
      const rejected = Number(partial.rejectedSpans ?? 0);
      if (Number.isFinite(rejected) && rejected > 0) info.rejectedSpans = rejected;
      if (typeof partial.errorMessage === "string" && partial.errorMessage) {
        info.errorMessage = partial.errorMessage;
      }
      return info;
    }
    const info: ExportResponseInfo = {};
    readFields(body, (field, wire, value) => {
      if (field !== 1 || wire !== 2) return;
      readFields(value as Uint8Array, (f, w, v) => {
        if (f === 1 && w === 0) {
          const n = Number(BigInt.asIntN(64, v as bigint));
          if (n > 0) info.rejectedSpans = n;
        } else if (f === 2 && w === 2) {
          const message = utf8.decode(v as Uint8Array);
          if (message) info.errorMessage = message;
        }
      });
    });
    return info;
  } catch {
    return {};
  }
}

/**
 * The message of an error response: `google.rpc.Status.message` (protobuf),
 * `message` of a JSON body, else the start of the body as text.
 */
export function parseErrorMessage(body: Uint8Array, contentType: string | null): string | undefined {
  if (body.length === 0) return undefined;
  try {
    if (isJson(contentType)) {
      const message = JSON.parse(utf8.decode(body))?.message;
      if (typeof message === "string" && message) return message;
    } else if (contentType && /protobuf/i.test(contentType)) {
      let message: string | undefined;
      readFields(body, (field, wire, value) => {
        if (field === 2 && wire === 2) message = utf8.decode(value as Uint8Array);
      });
      if (message) return message;
    }
  } catch {
    // fall through to plain text
  }
  const text = utf8.decode(body.subarray(0, 200)).replace(/\s+/g, " ").trim();
  return text || undefined;
}

/**
 * A `Retry-After` header as milliseconds from `nowMs`: delay-seconds or an
 * HTTP date. `undefined` when absent or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}
