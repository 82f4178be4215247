/**
 * Pieces shared by the OTLP encoders: the instrumentation scope, span flags
 * and grouping of spans by resource.
 * @module
 */
import type { Resource, SpanData } from "../core/span_data.ts";

/** The instrumentation scope name every exported span carries. */
export const SCOPE_NAME = "spanprobe";

/**
 * OTLP `Span.flags`: W3C trace flags (sampled = 0x01) in the low byte plus
 * `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK` (0x100) with the parent known to be
 * local, as `@opentelemetry/otlp-transformer` emits for sampled spans (257).
 */
export const SPAN_FLAGS = 0x101;

/** The all-zero span id, treated as "no parent". */
export const ZERO_SPAN_ID = "0000000000000000";

/** Smallest int64, as `bigint`. */
export const INT64_MIN = -(1n << 63n);
/** Largest int64, as `bigint`. */
export const INT64_MAX = (1n << 63n) - 1n;

/** Whether `parentSpanId` names a real parent (present and not all zeros). */
export function hasParent(parentSpanId: string | undefined): boolean {
  return !!parentSpanId && parentSpanId !== ZERO_SPAN_ID;
}

/**
 * Spans grouped by resource object identity, in first-seen order. A batch
 * with one resource (the common case) costs no copying.
 */
export function groupByResource(
  spans: readonly SpanData[],
): [Resource, readonly SpanData[]][] {
  if (spans.length === 0) return [];
  const first = spans[0].resource;
  let i = 1;
  while (i < spans.length && spans[i].resource === first) i++;
  if (i === spans.length) return [[first, spans]];
  const groups = new Map<Resource, SpanData[]>();
  for (const span of spans) {
    const list = groups.get(span.resource);
    if (list) list.push(span);
    else groups.set(span.resource, [span]);
  }
  return [...groups];
}
