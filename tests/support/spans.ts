/**
 * Span fixtures for the OTLP encoder and exporter tests.
 * @module
 */
import type { SpanData } from "../../lib/core/span_data.ts";

/** A minimal valid span (fixed ids and times); `over` replaces fields. */
export function span(over: Partial<SpanData> = {}): SpanData {
  return {
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    name: "s",
    kind: 1,
    startNs: 1795313354907507123n,
    endNs: 1795313354907507999n,
    attributes: {},
    status: { code: 0 },
    resource: { attributes: { "service.name": "t" } },
    ...over,
  };
}

/** `n` server spans named "request" of one trace (span ids 1…n), for exporter tests; `service` names the resource. */
export function requestSpans(n: number, service: string): SpanData[] {
  return Array.from({ length: n }, (_, i) => ({
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: (i + 1).toString(16).padStart(16, "0"),
    name: "request",
    kind: 2,
    startNs: 1795313354907507123n,
    endNs: 1795313354907607123n,
    attributes: {},
    status: { code: 0 },
    resource: { attributes: { "service.name": service } },
  }));
}
