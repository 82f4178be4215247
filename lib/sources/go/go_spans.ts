/**
 * The Go probe's ring-buffer records (`struct go_span` of probes/go.bpf.c)
 * to spans with OpenTelemetry semantic-convention attributes: net/http
 * SERVER and CLIENT spans, database/sql CLIENT spans.
 * @module
 */
import { readU64 } from "../../decoders/bytes.ts";
import { hexOf } from "../../core/hex.ts";
import { type Attributes, type Resource, type SpanData, SpanKind, StatusCode } from "../../core/span_data.ts";

/** Size of `struct go_span` (checked against the object's BTF at load). */
export const GO_SPAN_SIZE = 560;

/** Record kinds. */
export const GO_KIND = { SERVER: 1, CLIENT: 2, QUERY: 3, EXEC: 4 } as const;

const FLAG_ERROR = 1;
const FLAG_NO_STATUS = 4;

// field offsets in struct go_span
const O = {
  trace: 0,
  parent: 16,
  span: 24,
  start: 32,
  duration: 40,
  goid: 48,
  pid: 56,
  status: 60,
  kind: 62,
  flags: 63,
  proto: 64,
  methodLen: 66,
  textLen: 68,
  hostLen: 72,
  uaLen: 74,
  method: 96,
  text: 112,
  host: 368,
  ua: 432,
} as const;
const CAP = { method: 16, text: 256, host: 64, ua: 128 } as const;
const ZERO8 = "0000000000000000";

const decoder = new TextDecoder();

/** The string at `b[at]` of Go length `len`, cut to `cap` bytes (never inside a UTF-8 sequence). */
function text(b: Uint8Array, at: number, len: number, cap: number): string {
  let end = at + Math.min(len, cap);
  if (len > cap) {
    // back off to the start of a sequence the cut would split
    let lead = end - 1;
    while (lead > at && (b[lead] & 0xc0) === 0x80) lead--;
    const need = b[lead] >= 0xf0 ? 4 : b[lead] >= 0xe0 ? 3 : b[lead] >= 0xc0 ? 2 : 1;
    if (lead + need > end) end = lead;
  }
  return decoder.decode(b.subarray(at, end));
}

/** `host:port` → [host, port]; port undefined when absent or not a number. */
export function splitHostPort(hostPort: string): [string, number | undefined] {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(hostPort);
  if (!m) return [hostPort, undefined];
  return [m[1].replace(/^\[|\]$/g, ""), m[2] !== undefined ? Number(m[2]) : undefined];
}

/** The operation word of a SQL statement (`SELECT`, `INSERT`, ...), upper-cased; undefined when none. */
export function sqlOperation(query: string): string | undefined {
  const m = /^\s*([A-Za-z]+)/.exec(query);
  return m ? m[1].toUpperCase() : undefined;
}

/** Decodes Go probe records for one process resource. */
export interface GoSpanDecoder {
  /** The span of the record at `data[off, off+len)`; throws on a record of the wrong size or kind. */
  decode(data: Uint8Array, off: number, len: number, wallOffsetNs: bigint): SpanData;
}

/**
 * A decoder whose spans carry `resourceOf(pid)`; database spans get
 * `db.system.name` = `dbSystem` when given.
 */
export function createGoSpanDecoder(resourceOf: (pid: number) => Resource, dbSystem?: string): GoSpanDecoder {
  return {
    decode(data, off, len, wallOffsetNs) {
      if (len < GO_SPAN_SIZE) throw new Error(`Go span record of ${len} bytes (expected ${GO_SPAN_SIZE})`);
      const b = data.subarray(off, off + GO_SPAN_SIZE);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const kind = b[O.kind];
      const flags = b[O.flags];
      const status = dv.getUint16(O.status, true);
      const startNs = readU64(b, O.start) + wallOffsetNs;
      const endNs = startNs + readU64(b, O.duration);
      const parent = hexOf(b, O.parent, 8);
      const attributes: Attributes = {};
      let name: string;
      let spanKind: SpanData["kind"];
      let error = (flags & FLAG_ERROR) !== 0;
      if (kind === GO_KIND.SERVER || kind === GO_KIND.CLIENT) {
        const method = text(b, O.method, dv.getUint16(O.methodLen, true), CAP.method) || "GET";
        const path = text(b, O.text, dv.getUint32(O.textLen, true), CAP.text);
        const [host, port] = splitHostPort(text(b, O.host, dv.getUint16(O.hostLen, true), CAP.host));
        attributes["http.request.method"] = method;
        if (kind === GO_KIND.SERVER) {
          // a handler that never writes gets Go's implicit 200 after ServeHTTP returns;
          // a response writer that is not net/http's *response (HTTP/2): status unknown
          const code = flags & FLAG_NO_STATUS ? 0 : status || 200;
          name = `${method} ${path || "/"}`;
          spanKind = SpanKind.SERVER;
          attributes["url.path"] = path;
          if (code) attributes["http.response.status_code"] = code;
          if (host) attributes["server.address"] = host;
          attributes["server.port"] = port ?? 80;
          const proto = dv.getUint16(O.proto, true);
          const major = proto >> 8, minor = proto & 0xff;
          attributes["network.protocol.version"] = major >= 2 ? String(major) : `${major}.${minor}`;
          const uaLen = dv.getUint16(O.uaLen, true);
          if (uaLen > 0) attributes["user_agent.original"] = text(b, O.ua, uaLen, CAP.ua);
          error = code >= 500;
        } else {
          name = method;
          spanKind = SpanKind.CLIENT;
          attributes["url.path"] = path;
          if (host) attributes["server.address"] = host;
          attributes["server.port"] = port ?? 80;
          if (status) attributes["http.response.status_code"] = status;
          error ||= status >= 400;
        }
      } else if (kind === GO_KIND.QUERY || kind === GO_KIND.EXEC) {
        const query = text(b, O.text, dv.getUint32(O.textLen, true), CAP.text);
        const op = sqlOperation(query);
        name = op ?? (kind === GO_KIND.EXEC ? "exec" : "query");
        spanKind = SpanKind.CLIENT;
        attributes["db.query.text"] = query;
        if (op) attributes["db.operation.name"] = op;
        if (dbSystem) attributes["db.system.name"] = dbSystem;
      } else {
        throw new Error(`Go span record of unknown kind ${kind}`);
      }
      attributes["go.goroutine.id"] = readU64(b, O.goid);
      return {
        traceId: hexOf(b, O.trace, 16),
        spanId: hexOf(b, O.span, 8),
        parentSpanId: parent === ZERO8 ? undefined : parent,
        name,
        kind: spanKind,
        startNs,
        endNs,
        attributes,
        status: error ? { code: StatusCode.ERROR } : { code: StatusCode.UNSET },
        resource: resourceOf(dv.getUint32(O.pid, true)),
      };
    },
  };
}
