/**
 * An ended HTTP exchange as a span: name `METHOD route`, HTTP semantic
 * convention attributes, status ERROR for 5xx and failures, and its place
 * in a trace (parent exchange, else the `traceparent` it carried, else a
 * new trace).
 * @module
 */
import { newTraceId } from "../../core/ids.ts";
import { type Attributes, type Resource, type SpanData, SpanKind, StatusCode } from "../../core/span_data.ts";
import type { Exchange } from "./exchanges.ts";
import type { RouteNormaliser } from "./route.ts";

/** Options of {@linkcode spanOfExchange}. */
export interface ShapeOptions {
  routes: RouteNormaliser;
  /** Add `url.query` (off by default: queries may hold secrets). */
  urlQuery: boolean;
  /** Wall-clock ns minus CLOCK_MONOTONIC ns. */
  wallOffsetNs: bigint;
  resource: Resource;
}

/** The longest parent chain followed (a guard; real chains are short). */
const MAX_DEPTH = 64;

/** The trace id of `ex`: its parent's, else its traceparent's, else its own new one. */
export function traceIdOf(ex: Exchange): string {
  let x = ex;
  for (let i = 0; i < MAX_DEPTH && x.parent; i++) x = x.parent;
  if (x.remoteParent) return x.remoteParent.traceId;
  return x.rootTraceId ??= newTraceId();
}

/** The parent span id of `ex`, if any. */
export function parentSpanIdOf(ex: Exchange): string | undefined {
  return ex.parent?.spanId ?? ex.remoteParent?.spanId;
}

/** The span of an ended exchange. */
export function spanOfExchange(ex: Exchange, o: ShapeOptions): SpanData {
  const req = ex.request;
  const route = o.routes.route(req.path);
  const server = ex.role === "server";
  const c = ex.conn;
  const a: Attributes = {
    "http.request.method": req.method,
    "url.path": req.path,
    "http.route": route,
    "network.protocol.name": "http",
    "network.protocol.version": req.version,
    "server.address": server ? c.local : c.remote,
    "server.port": server ? c.localPort : c.remotePort,
    "client.address": server ? c.remote : c.local,
    "client.port": server ? c.remotePort : c.localPort,
    "thread.id": ex.tid,
  };
  if (o.urlQuery && req.query !== undefined) a["url.query"] = req.query;
  if (req.host !== undefined && !server) a["http.request.header.host"] = [req.host];
  if (req.headLength !== undefined) {
    const body = ex.requestBytes - req.headLength;
    if (req.contentLength !== undefined) a["http.request.body.size"] = req.contentLength;
    else if (body > 0 && !req.chunked) a["http.request.body.size"] = body;
  }
  const res = ex.response;
  let error = ex.error !== undefined;
  if (res) {
    a["http.response.status_code"] = res.status;
    if (res.headLength !== undefined) {
      if (res.contentLength !== undefined) a["http.response.body.size"] = res.contentLength;
      else if (!res.chunked) a["http.response.body.size"] = Math.max(0, ex.responseBytes - res.headLength);
    }
    if (res.status >= 500) error = true;
  }
  if (ex.error !== undefined) a["error.type"] = ex.error;
  else if (res && res.status >= 500) a["error.type"] = String(res.status);
  if (ex.endReason === "shutdown" && !res) a["spanprobe.incomplete"] = "shutdown";
  if (ex.linked) a["spanprobe.link"] = "tcp-4-tuple";
  else if (ex.parent) a["spanprobe.link"] = "thread";
  else if (ex.remoteParent) a["spanprobe.link"] = "traceparent";
  const parent = parentSpanIdOf(ex);
  const span: SpanData = {
    traceId: traceIdOf(ex),
    spanId: ex.spanId,
    name: `${req.method} ${route}`,
    kind: server ? SpanKind.SERVER : SpanKind.CLIENT,
    startNs: ex.startNs + o.wallOffsetNs,
    endNs: ex.endNs + o.wallOffsetNs,
    attributes: a,
    status: !error
      ? { code: StatusCode.UNSET }
      : ex.error !== undefined
      ? { code: StatusCode.ERROR, message: ex.error }
      : { code: StatusCode.ERROR },
    resource: o.resource,
  };
  if (parent) span.parentSpanId = parent;
  return span;
}
