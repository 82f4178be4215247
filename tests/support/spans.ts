/**
 * A span fixture for the OTLP encoder tests.
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
