/**
 * From socket events to HTTP exchanges: one per request/response on a
 * connection, as a server (request read, response written) or a client
 * (request written, response read). Roles come from the bytes: a
 * connection that reads a request line is a server's, one that writes one
 * is a client's.
 *
 * - Keep-alive: each request on a connection is its own exchange.
 * - Start: server = the read that returned the request's first bytes (its
 *   exit); client = the write that sent them (its entry). End: the write
 *   (server) or read (client) that moved the response's last byte, known from
 *   Content-Length, the last chunk, or else the next request / close / idle
 *   timeout (then the last response byte seen).
 * - Linking: a client exchange and the server exchange on the other end of
 *   the same connection (same 4-tuple, the server's request read after the
 *   client's write began) are linked: the server's parent is the client.
 *   A client exchange started on a thread that is serving exactly one server
 *   exchange becomes its child (thread context), except in runtimes whose
 *   threads do not follow a request (Go: `threadFollowsRequest`).
 * - Bounded: at most `maxConnections` connections (the oldest evicted,
 *   counted), a head is accumulated over reads up to `captureBytes`, and
 *   traffic that is not HTTP/1.x is counted by reason, never turned into a
 *   span: tls, http2, not_http, too_long (request line longer than the
 *   captured bytes), pipelined, no_request (a response without a request
 *   seen), response_not_http, upgraded (101 or a CONNECT tunnel: the rest is not HTTP).
 * @module
 */
import { newSpanId } from "../../core/ids.ts";
import type { Addresses, HttpEvent } from "./events.ts";
import { EventKind } from "./events.ts";
import {
  classify,
  endsWithLastChunk,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  responseHasNoBody,
  type ResponseHead,
} from "./http_parse.ts";
import { parseTraceparent, type RemoteParent } from "./traceparent.ts";

/** Why traffic was not turned into spans (see the module doc). */
export type UnparsedReason =
  | "tls"
  | "http2"
  | "not_http"
  | "too_long"
  | "pipelined"
  | "no_request"
  | "response_not_http"
  | "upgraded";

/** A connection as seen from one process. */
export interface Connection {
  readonly sock: number;
  readonly pid: number;
  readonly local: string;
  readonly localPort: number;
  readonly remote: string;
  readonly remotePort: number;
  /** "client-address:port>server-address:port" once the role is known. */
  tupleKey?: string;
  unparsed?: UnparsedReason;
  /** Seen from its accept/connect: bytes that are not HTTP mean the whole connection is not. */
  fromStart: boolean;
  /** Counted as unparsed already. */
  counted?: boolean;
  current?: Exchange;
  /** The start of a request line that ended with its read/write (e.g. Go's 1-byte read): waits for the rest. */
  pending?: PendingStart;
  pendingBuffer?: Uint8Array;
  lastNs: bigint;
}

/** The first bytes of a request whose line is not complete yet. */
interface PendingStart {
  incoming: boolean;
  bytes: Uint8Array;
  len: number;
  ret: number;
  startNs: bigint;
  endNs: bigint;
}

/** One request and its response. */
export interface Exchange {
  readonly role: "server" | "client";
  readonly conn: Connection;
  readonly pid: number;
  readonly tid: number;
  readonly spanId: string;
  request: RequestHead;
  response?: ResponseHead;
  /** CLOCK_MONOTONIC ns. */
  startNs: bigint;
  endNs: bigint;
  /** Bytes of the request seen (head and body). */
  requestBytes: number;
  /** Bytes of the response seen (head and body). */
  responseBytes: number;
  /** When the last response byte so far moved. */
  lastResponseNs: bigint;
  /** The exchange on the other end or the serving exchange on this thread. */
  parent?: Exchange;
  /** From an incoming/outgoing `traceparent` header. */
  remoteParent?: RemoteParent;
  /** Linked to a client exchange by 4-tuple (server exchanges). */
  linked: boolean;
  /** `error.type` when it failed (errno name, `no_response`, `connection_closed`). */
  error?: string;
  /** Why it ended: complete, next_request, close, idle, shutdown, error. */
  endReason?: string;
  ended: boolean;
  /** Trace id when it is a root (drawn on first use). */
  rootTraceId?: string;
  /** The captured head so far, while it is incomplete. */
  headBytes?: Uint8Array;
  headLen: number;
}

/** Options of {@linkcode createExchangeTracker}. */
export interface TrackerOptions {
  /** Bytes captured per call (and most bytes of a head accumulated over reads). */
  captureBytes: number;
  /** Most connections tracked (default 65536). */
  maxConnections?: number;
  /** A response with no end marker ends this long after its last byte (default 5 s). */
  responseIdleNs?: bigint;
  /** A connection without traffic is forgotten after this long (default 300 s). */
  connectionIdleNs?: bigint;
  /** Called for each exchange as it ends. */
  onEnded(ex: Exchange): void;
  /** Addresses of the event being handled (read lazily: only for new connections). */
  addresses(ev: HttpEvent): Addresses;
  /** Names an errno (e.g. 104 → ECONNRESET). */
  errnoName(err: number): string;
  /**
   * Whether a thread of process `pid` follows one request at a time (default:
   * yes). False for Go, whose goroutines move between threads: there a thread
   * serving a request says nothing about who makes an outgoing call.
   */
  threadFollowsRequest?(pid: number): boolean;
}

/** Counters of a tracker. */
export interface TrackerStats {
  connections: number;
  openExchanges: number;
  unparsed: Record<UnparsedReason, number>;
  connectFailed: number;
  evictedConnections: number;
  ambiguousThreadContext: number;
  /** Client requests not linked by thread because the runtime moves work between threads (Go). */
  threadContextOff: number;
  dataWithoutExchange: number;
}

/** Events in, exchanges out. */
export interface ExchangeTracker {
  handle(ev: HttpEvent): void;
  /** End idle responses and forget idle connections, as of `nowNs` (CLOCK_MONOTONIC). */
  sweep(nowNs: bigint): void;
  /** End every open exchange (at stop): with a response as usual, without one as errors. */
  endAll(): void;
  /** Forget `ex` in the link indexes (after it was turned into a span). */
  release(ex: Exchange): void;
  stats(): TrackerStats;
}

const EINPROGRESS = 115;

/** Why a connection is forgotten. */
type CloseReason = "close" | "shutdown" | "idle" | "process_exit";

function hasLineEnd(b: Uint8Array): boolean {
  const i = b.indexOf(13);
  return i >= 0 && i + 1 < b.length && b[i + 1] === 10;
}

/** A tracker of connections and their exchanges. */
export function createExchangeTracker(o: TrackerOptions): ExchangeTracker {
  const maxConnections = o.maxConnections ?? 65536;
  const responseIdleNs = o.responseIdleNs ?? 5_000_000_000n;
  const connectionIdleNs = o.connectionIdleNs ?? 300_000_000_000n;
  const conns = new Map<number, Connection>();
  /** Exchanges by tuple key, per role, until released. */
  const serverByTuple = new Map<string, Exchange>();
  const clientByTuple = new Map<string, Exchange>();
  /** Server exchanges in progress per thread. */
  const serving = new Map<number, Exchange[]>();
  const unparsed: Record<UnparsedReason, number> = {
    tls: 0,
    http2: 0,
    not_http: 0,
    too_long: 0,
    pipelined: 0,
    no_request: 0,
    response_not_http: 0,
    upgraded: 0,
  };
  let openExchanges = 0;
  let connectFailed = 0;
  let evicted = 0;
  let ambiguous = 0;
  let threadOff = 0;
  let orphanData = 0;

  function connectionOf(ev: HttpEvent): Connection {
    let c = conns.get(ev.sock);
    if (c && c.pid !== ev.pid) c = undefined; // a socket shared after fork: each process tracks its own view
    if (c) return c;
    if (conns.size >= maxConnections) {
      const [oldest] = conns.keys();
      forget(conns.get(oldest)!, "close");
      evicted++;
    }
    const a = o.addresses(ev);
    c = {
      sock: ev.sock,
      pid: ev.pid,
      local: a.local,
      localPort: ev.lport,
      remote: a.remote,
      remotePort: ev.rport,
      fromStart: ev.kind === EventKind.ACCEPT || ev.kind === EventKind.CONNECT,
      lastNs: ev.endNs,
    };
    conns.set(ev.sock, c);
    return c;
  }

  /**
   * Counts a connection's traffic as unparsed (once per connection) and
   * ignores the rest of it, unless it was joined mid-stream (the agent
   * started while it was open): then only TLS and HTTP/2 are certain, and
   * other bytes may be the middle of a message, so later bytes get a chance.
   */
  function markUnparsed(c: Connection, reason: UnparsedReason): void {
    if (!c.counted) unparsed[reason]++;
    c.counted = true;
    if (c.fromStart || reason === "tls" || reason === "http2" || reason === "upgraded") c.unparsed = reason;
  }

  function end(ex: Exchange, endNs: bigint, reason: string): void {
    if (ex.ended) return;
    ex.ended = true;
    ex.endNs = endNs < ex.startNs ? ex.startNs : endNs;
    ex.endReason = reason;
    ex.headBytes = undefined;
    openExchanges--;
    if (ex.role === "server") {
      const list = serving.get(ex.tid);
      if (list) {
        const i = list.indexOf(ex);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) serving.delete(ex.tid);
      }
    }
    o.onEnded(ex);
  }

  function fail(ex: Exchange, error: string, endNs: bigint): void {
    ex.error = error;
    end(ex, endNs, "error");
  }

  /** Ends the connection's open exchange by its rule for a closed connection. */
  function endOnClose(ex: Exchange, nowNs: bigint, reason: CloseReason): void {
    if (ex.ended) return;
    if (ex.response) {
      // close-delimited bodies end here; others were cut short (still the last byte seen)
      end(ex, ex.lastResponseNs, reason);
    } else {
      ex.error = reason === "close" ? (ex.role === "server" ? "no_response" : "connection_closed") : reason;
      end(ex, reason === "close" || reason === "process_exit" ? nowNs : ex.startNs, reason);
    }
  }

  function forget(c: Connection, reason: CloseReason, nowNs = c.lastNs): void {
    if (c.current) endOnClose(c.current, nowNs, reason);
    if (conns.get(c.sock) === c) conns.delete(c.sock);
  }

  function newExchange(role: "server" | "client", c: Connection, ev: HttpEvent, head: RequestHead): Exchange {
    const ex: Exchange = {
      role,
      conn: c,
      pid: ev.pid,
      tid: ev.tid,
      spanId: newSpanId(),
      request: head,
      startNs: role === "server" ? ev.endNs : ev.startNs,
      endNs: 0n,
      requestBytes: ev.ret,
      responseBytes: 0,
      lastResponseNs: 0n,
      linked: false,
      ended: false,
      headLen: 0,
    };
    if (head.traceparent) ex.remoteParent = parseTraceparent(head.traceparent);
    if (head.headLength === undefined && ev.data.length === ev.ret && ev.data.length < o.captureBytes) {
      // the head continues in the next read/write: keep accumulating (bounded by captureBytes)
      ex.headBytes = new Uint8Array(o.captureBytes);
      ex.headBytes.set(ev.data);
      ex.headLen = ev.data.length;
    }
    c.current = ex;
    openExchanges++;
    return ex;
  }

  /** More bytes of a request whose head was incomplete. */
  function moreHead(ex: Exchange, data: Uint8Array): void {
    const buf = ex.headBytes!;
    const n = Math.min(data.length, buf.length - ex.headLen);
    buf.set(data.subarray(0, n), ex.headLen);
    ex.headLen += n;
    const head = parseRequestHead(buf, ex.headLen);
    if (head) {
      ex.request = head;
      if (head.traceparent && !ex.remoteParent) ex.remoteParent = parseTraceparent(head.traceparent);
    }
    if (head?.headLength !== undefined || ex.headLen >= buf.length || n < data.length) ex.headBytes = undefined;
  }

  /** Whether the request's announced body has been fully seen. */
  function requestComplete(ex: Exchange): boolean {
    const h = ex.request;
    if (h.headLength === undefined || h.chunked) return false;
    return ex.requestBytes >= h.headLength + (h.contentLength ?? 0);
  }

  /**
   * The event that starts a request, with earlier bytes of its line put in
   * front when a read/write ended inside the line; undefined while the line
   * is still incomplete (the bytes are kept, up to `captureBytes`).
   */
  function joinPending(c: Connection, ev: HttpEvent, incoming: boolean): HttpEvent | undefined {
    let p = c.pending;
    if (p && p.incoming !== incoming) p = c.pending = undefined;
    const whole = ev.data.length === ev.ret;
    if (!p) {
      // a line end in the bytes: nothing to join (the usual case, checked without parsing)
      if (!whole || ev.data.length >= o.captureBytes || hasLineEnd(ev.data)) return ev;
      const kind = classify(ev.data);
      if (kind !== "incomplete" && kind !== "request") return ev;
      const bytes = c.pendingBuffer ??= new Uint8Array(o.captureBytes); // reused: Go starts every request so
      bytes.set(ev.data);
      c.pending = { incoming, bytes, len: ev.data.length, ret: ev.ret, startNs: ev.startNs, endNs: ev.endNs };
      return undefined;
    }
    const n = Math.min(ev.data.length, p.bytes.length - p.len);
    p.bytes.set(ev.data.subarray(0, n), p.len);
    p.len += n;
    p.ret += ev.ret;
    const data = p.bytes.subarray(0, p.len);
    const kind = classify(data);
    const lineDone = kind !== "request" || parseRequestHead(data) !== undefined;
    if ((kind === "incomplete" || !lineDone) && whole && n === ev.data.length && p.len < p.bytes.length) {
      return undefined; // still inside the line
    }
    c.pending = undefined;
    return { ...ev, data, ret: p.ret, startNs: p.startNs, endNs: p.endNs };
  }

  function startServer(c: Connection, ev: HttpEvent): void {
    const kind = classify(ev.data);
    if (kind === "response") {
      unparsed.no_request++;
      return;
    }
    if (kind !== "request") {
      markUnparsed(c, kind === "incomplete" ? "too_long" : kind);
      return;
    }
    const head = parseRequestHead(ev.data);
    if (!head) {
      markUnparsed(c, "too_long");
      return;
    }
    c.tupleKey ??= `${c.remote}:${c.remotePort}>${c.local}:${c.localPort}`;
    const ex = newExchange("server", c, ev, head);
    const list = serving.get(ex.tid);
    if (list) list.push(ex);
    else serving.set(ex.tid, [ex]);
    const client = clientByTuple.get(c.tupleKey);
    if (client && client.startNs <= ex.startNs && !(client.ended && client.endNs < ex.startNs)) {
      ex.parent = client;
      ex.linked = true;
    }
    serverByTuple.set(c.tupleKey, ex);
  }

  function startClient(c: Connection, ev: HttpEvent): void {
    const kind = classify(ev.data);
    if (kind !== "request") {
      if (kind === "response") unparsed.no_request++;
      else markUnparsed(c, kind === "incomplete" ? "too_long" : kind);
      return;
    }
    const head = parseRequestHead(ev.data);
    if (!head) {
      markUnparsed(c, "too_long");
      return;
    }
    c.tupleKey ??= `${c.local}:${c.localPort}>${c.remote}:${c.remotePort}`;
    const ex = newExchange("client", c, ev, head);
    if (!ex.remoteParent) {
      const list = serving.get(ex.tid);
      if (list?.length && o.threadFollowsRequest && !o.threadFollowsRequest(ex.pid)) threadOff++;
      else if (list?.length === 1 && list[0].pid === ex.pid) ex.parent = list[0];
      else if (list && list.length > 1) ambiguous++;
    }
    const server = serverByTuple.get(c.tupleKey);
    if (server && !server.linked && ex.startNs <= server.startNs) {
      server.parent = ex;
      server.linked = true;
    }
    clientByTuple.set(c.tupleKey, ex);
  }

  /** Response bytes (written by a server, read by a client); ends the exchange when complete. */
  function responseData(ex: Exchange, ev: HttpEvent): void {
    ex.lastResponseNs = ev.endNs;
    if (!ex.response && ev.data.length === 0) return; // no bytes captured (sendfile): nothing to parse yet
    if (!ex.response) {
      const head = parseResponseHead(ev.data);
      if (!head) {
        markUnparsed(ex.conn, "response_not_http");
        ex.error = "response_not_http";
        end(ex, ev.endNs, "error");
        return;
      }
      if (head.status < 200 && head.status !== 101) return; // interim (100 Continue): the real one follows
      ex.response = head;
      ex.responseBytes = ev.ret;
      if (head.status === 101 || (ex.request.method === "CONNECT" && head.status >= 200 && head.status < 300)) {
        // the connection now carries another protocol (an upgrade, a CONNECT tunnel)
        markUnparsed(ex.conn, "upgraded");
        end(ex, ev.endNs, "complete");
        return;
      }
    } else {
      ex.responseBytes += ev.ret;
    }
    const h = ex.response;
    if (h.headLength === undefined) return;
    if (responseHasNoBody(ex.request.method, h.status)) {
      if (ex.responseBytes >= h.headLength) end(ex, ev.endNs, "complete");
    } else if (h.contentLength !== undefined && !h.chunked) {
      if (ex.responseBytes >= h.headLength + h.contentLength) end(ex, ev.endNs, "complete");
    } else if (h.chunked && ev.data.length === ev.ret && endsWithLastChunk(ev.data)) {
      end(ex, ev.endNs, "complete");
    }
  }

  function onData(ev: HttpEvent, incoming: boolean): void {
    const c = connectionOf(ev);
    c.lastNs = ev.endNs;
    const cur = c.current && !c.current.ended ? c.current : undefined;
    if (ev.ret < 0) {
      if (cur) fail(cur, o.errnoName(-ev.ret), ev.endNs);
      return;
    }
    if (c.unparsed) return;
    if (incoming) {
      if (cur?.role === "client") {
        cur.headBytes = undefined; // the request head is complete once the answer comes
        return responseData(cur, ev);
      }
      if (cur?.role === "server" && !cur.response) {
        if (cur.headBytes) moreHead(cur, ev.data);
        else if (requestComplete(cur) && classify(ev.data) === "request") {
          unparsed.pipelined++;
          return;
        }
        cur.requestBytes += ev.ret;
        return;
      }
      if (cur?.role === "server") end(cur, cur.lastResponseNs, "next_request");
      if (ev.data.length === 0) {
        orphanData++;
        return;
      }
      const start = joinPending(c, ev, true);
      if (start) startServer(c, start);
      return;
    }
    if (cur?.role === "server") {
      cur.headBytes = undefined;
      return responseData(cur, ev);
    }
    if (cur?.role === "client" && !cur.response) {
      if (cur.headBytes) moreHead(cur, ev.data);
      cur.requestBytes += ev.ret;
      return;
    }
    if (cur?.role === "client") end(cur, cur.lastResponseNs, "next_request");
    if (ev.data.length === 0) {
      orphanData++;
      return;
    }
    const start = joinPending(c, ev, false);
    if (start) startClient(c, start);
  }

  return {
    handle(ev) {
      switch (ev.kind) {
        case EventKind.ACCEPT:
        case EventKind.CONNECT: {
          if (ev.ret < 0 && -ev.ret !== EINPROGRESS) {
            // a refused or timed-out connect (blocking: its return value; non-blocking: the socket's SYN_SENT → CLOSE)
            connectFailed++;
            const c = conns.get(ev.sock);
            if (c && c.pid === ev.pid) forget(c, "close", ev.endNs);
            return;
          }
          const old = conns.get(ev.sock);
          if (old) forget(old, "close", ev.endNs); // the socket's memory was reused
          connectionOf(ev);
          return;
        }
        case EventKind.CLOSE: {
          const c = conns.get(ev.sock);
          if (c && c.pid === ev.pid) forget(c, "close", ev.endNs);
          return;
        }
        case EventKind.EXIT: {
          // the process's sockets closed with it (no close() calls to see)
          for (const c of [...conns.values()]) if (c.pid === ev.pid) forget(c, "process_exit", ev.endNs);
          return;
        }
        case EventKind.RECV:
          return onData(ev, true);
        case EventKind.SEND:
          return onData(ev, false);
      }
    },
    sweep(nowNs) {
      for (const c of [...conns.values()]) {
        const ex = c.current;
        if (ex && !ex.ended && ex.response && nowNs - ex.lastResponseNs > responseIdleNs) {
          end(ex, ex.lastResponseNs, "idle");
        }
        if (nowNs - c.lastNs > connectionIdleNs) forget(c, "idle", nowNs);
      }
    },
    endAll() {
      for (const c of [...conns.values()]) if (c.current) endOnClose(c.current, c.lastNs, "shutdown");
    },
    release(ex) {
      const key = ex.conn.tupleKey;
      if (key === undefined) return;
      const index = ex.role === "server" ? serverByTuple : clientByTuple;
      if (index.get(key) === ex) index.delete(key);
      if (ex.conn.current === ex && ex.ended) ex.conn.current = undefined;
    },
    stats() {
      return {
        connections: conns.size,
        openExchanges,
        unparsed: { ...unparsed },
        connectFailed,
        evictedConnections: evicted,
        ambiguousThreadContext: ambiguous,
        threadContextOff: threadOff,
        dataWithoutExchange: orphanData,
      };
    },
  };
}
