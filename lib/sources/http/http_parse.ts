/**
 * HTTP/1.x message heads from the first bytes of a read or write: request
 * line or status line, and the few headers spans need (Content-Length,
 * Transfer-Encoding, Connection, Host, traceparent). Pure functions over
 * bytes; nothing here allocates for the body.
 * @module
 */

/** How the first bytes of a connection's traffic look. */
export type Classification = "request" | "response" | "tls" | "http2" | "not_http" | "incomplete";

/** What a message head says about the body that follows it. */
export interface BodyFraming {
  /** Body bytes announced by Content-Length. */
  contentLength?: number;
  /** `Transfer-Encoding: chunked`. */
  chunked: boolean;
  /** `Connection: close` (or HTTP/1.0 without keep-alive): the body may end with the connection. */
  close: boolean;
}

/** A parsed request head. */
export interface RequestHead extends BodyFraming {
  method: string;
  /** The request target as sent (origin form: path and query). */
  target: string;
  path: string;
  /** The query without `?`, or undefined. */
  query?: string;
  /** "1.0" or "1.1". */
  version: string;
  host?: string;
  traceparent?: string;
  /** Bytes of the head including the blank line; undefined when the captured bytes end inside it. */
  headLength?: number;
}

/** A parsed status line and head. */
export interface ResponseHead extends BodyFraming {
  status: number;
  version: string;
  headLength?: number;
}

const METHOD_LIST = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT"] as const;
const METHODS: ReadonlySet<string> = new Set(METHOD_LIST);
/**
 * Latin-1 text of `b[from, to)`. `String.fromCharCode` over the bytes: a
 * TextDecoder call costs ~1-2 µs each here (an op call per decode), which
 * dominated parsing.
 */
function text(b: Uint8Array, from: number, to: number): string {
  if (to > from + 8192) to = from + 8192;
  if (to - from > 32) return String.fromCharCode.apply(null, b.subarray(from, to) as unknown as number[]);
  let out = "";
  for (let i = from; i < to; i++) out += String.fromCharCode(b[i]);
  return out;
}

const CR = 13, LF = 10, SP = 32;
/** The longest method token looked at. */
const MAX_METHOD = 8;

/** Index of the first CRLF at or after `from` in `b[0, end)`, or -1. */
function lineEnd(b: Uint8Array, from: number, end: number): number {
  for (let i = from; i + 1 < end; i++) if (b[i] === CR && b[i + 1] === LF) return i;
  return -1;
}

function startsWithAscii(b: Uint8Array, off: number, end: number, text: string): boolean {
  if (end - off < text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[off + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** The method token at the start of `b` when it is a known HTTP method followed by a space (no string built). */
function methodAt(b: Uint8Array, end: number): string | undefined {
  let i = 0;
  while (i < end && i <= MAX_METHOD && b[i] >= 65 && b[i] <= 90) i++;
  if (i === 0 || i > MAX_METHOD || i >= end || b[i] !== SP) return undefined;
  for (const m of METHOD_LIST) {
    if (m.length !== i || m.charCodeAt(0) !== b[0]) continue;
    let same = true;
    for (let k = 1; k < i && same; k++) same = m.charCodeAt(k) === b[k];
    if (same) return m;
  }
  return undefined;
}

/**
 * What the first bytes of a stream are: an HTTP/1.x request or response,
 * TLS (a handshake record), HTTP/2 (the connection preface), something else,
 * or too short to tell.
 */
export function classify(b: Uint8Array, end = b.length): Classification {
  if (end === 0) return "incomplete";
  if (b[0] === 0x16 && (end < 2 || b[1] === 0x03)) return end < 2 ? "incomplete" : "tls";
  if (startsWithAscii(b, 0, end, "PRI * HTTP/2.0")) return "http2";
  if (startsWithAscii(b, 0, end, "HTTP/1.")) return "response";
  if (methodAt(b, end)) return "request";
  // a prefix of a method or of "HTTP/1." may still grow into one
  if (end < MAX_METHOD + 1) {
    const start = text(b, 0, end);
    if ("HTTP/1.".startsWith(start) || "PRI * HTTP/2.0".startsWith(start)) return "incomplete";
    for (const m of METHODS) if ((m + " ").startsWith(start)) return "incomplete";
  }
  return "not_http";
}

/** Whether `b[at, at + name.length)` equals `name` (lowercase ASCII) ignoring case. */
function nameIs(b: Uint8Array, at: number, len: number, name: string): boolean {
  if (len !== name.length) return false;
  for (let i = 0; i < len; i++) if ((b[at + i] | 0x20) !== name.charCodeAt(i)) return false;
  return true;
}

function parseHeaders(b: Uint8Array, from: number, end: number, head: RequestHead | ResponseHead): void {
  let pos = from;
  for (;;) {
    const e = lineEnd(b, pos, end);
    if (e < 0) return; // captured bytes end inside the head
    if (e === pos) {
      head.headLength = e + 2;
      return;
    }
    const colon = b.indexOf(58, pos);
    const len = colon - pos;
    // only the few headers spans use are decoded (by length first: no string per header)
    if (colon > pos && colon < e && (len === 4 || len === 10 || len === 11 || len === 14 || len === 17)) {
      const name = nameIs(b, pos, len, "content-length")
        ? "content-length"
        : nameIs(b, pos, len, "transfer-encoding")
        ? "transfer-encoding"
        : nameIs(b, pos, len, "connection")
        ? "connection"
        : nameIs(b, pos, len, "host")
        ? "host"
        : nameIs(b, pos, len, "traceparent")
        ? "traceparent"
        : "";
      let vs = colon + 1;
      while (vs < e && (b[vs] === SP || b[vs] === 9)) vs++;
      let ve = e;
      while (ve > vs && (b[ve - 1] === SP || b[ve - 1] === 9)) ve--;
      const value = () => text(b, vs, ve);
      switch (name) {
        case "content-length": {
          const v = value();
          if (/^\d{1,15}$/.test(v)) head.contentLength = Number(v);
          break;
        }
        case "transfer-encoding":
          if (/chunked/i.test(value())) head.chunked = true;
          break;
        case "connection": {
          const v = value().toLowerCase();
          if (v.includes("close")) head.close = true;
          else if (v.includes("keep-alive")) head.close = false;
          break;
        }
        case "host":
          if ("method" in head) head.host = value();
          break;
        case "traceparent":
          if ("method" in head) head.traceparent = value();
          break;
      }
    }
    pos = e + 2;
  }
}

/**
 * Parses a request head from `b[0, end)`. Undefined when the request line
 * is not complete or not HTTP/1.x; headers past `end` are simply missing
 * (`headLength` stays undefined).
 */
export function parseRequestHead(b: Uint8Array, end = b.length): RequestHead | undefined {
  const method = methodAt(b, end);
  if (!method) return undefined;
  const le = lineEnd(b, 0, end);
  if (le < 0) return undefined;
  const t0 = method.length + 1;
  const t1 = b.lastIndexOf(SP, le - 1);
  if (t1 <= t0 || !startsWithAscii(b, t1 + 1, le, "HTTP/1.")) return undefined;
  const version = text(b, t1 + 6, le);
  if (version !== "1.0" && version !== "1.1") return undefined;
  const target = text(b, t0, t1);
  let path = target;
  let query: string | undefined;
  const q = target.indexOf("?");
  if (q >= 0) {
    path = target.slice(0, q);
    query = target.slice(q + 1);
  }
  if (/^https?:\/\//i.test(path)) path = path.replace(/^https?:\/\/[^/]*/i, "") || "/";
  const head: RequestHead = { method, target, path, query, version, chunked: false, close: version === "1.0" };
  parseHeaders(b, le + 2, end, head);
  return head;
}

/** Parses a status line and head from `b[0, end)`; undefined when it is not one. */
export function parseResponseHead(b: Uint8Array, end = b.length): ResponseHead | undefined {
  if (!startsWithAscii(b, 0, end, "HTTP/1.")) return undefined;
  const le = lineEnd(b, 0, end);
  if (le < 0 || le < 12 || b[8] !== SP) return undefined;
  const version = text(b, 5, 8);
  if (version !== "1.0" && version !== "1.1") return undefined;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) return undefined;
    status = status * 10 + d;
  }
  if (status < 100) return undefined;
  const head: ResponseHead = { status, version, chunked: false, close: version === "1.0" };
  parseHeaders(b, le + 2, end, head);
  return head;
}

/** Whether a response to `method` with `status` has no body whatever its headers say (RFC 9112 §6.3). */
export function responseHasNoBody(method: string, status: number): boolean {
  return method === "HEAD" || status < 200 || status === 204 || status === 304;
}

/** Whether `b[0, end)` ends with the last chunk of a chunked body (`0\r\n\r\n`). */
export function endsWithLastChunk(b: Uint8Array, end = b.length): boolean {
  if (end < 5) return false;
  return b[end - 5] === 48 && b[end - 4] === CR && b[end - 3] === LF && b[end - 2] === CR && b[end - 1] === LF &&
    (end === 5 || b[end - 6] === LF);
}
