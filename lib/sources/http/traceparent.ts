/**
 * W3C Trace Context `traceparent` header values.
 * @module
 */

/** A remote parent: the caller's trace id and span id (lowercase hex). */
export interface RemoteParent {
  traceId: string;
  spanId: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a `traceparent` value; undefined when malformed, version `ff`, or
 * an all-zero id (W3C: such a header is ignored).
 */
export function parseTraceparent(value: string): RemoteParent | undefined {
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m || m[1] === "ff") return undefined;
  if (m[1] === "00" && m[5] !== undefined) return undefined;
  if (/^0+$/.test(m[2]) || /^0+$/.test(m[3])) return undefined;
  return { traceId: m[2], spanId: m[3] };
}
