/**
 * The zero-code HTTP source's pure parts: message heads, routes,
 * traceparent, process naming, selectors, and the exchange tracker fed with
 * hand-made events (keep-alive, split heads, pipelining, linking, errors).
 */
import assert, { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  addressesOf,
  blankEvent,
  decodeEvent,
  EventKind,
  type EventKindValue,
  type HttpEvent,
} from "../lib/sources/http/events.ts";
import { createExchangeTracker, type Exchange } from "../lib/sources/http/exchanges.ts";
import { classify, endsWithLastChunk, parseRequestHead, parseResponseHead } from "../lib/sources/http/http_parse.ts";
import { parseHttpParams } from "../lib/sources/http/params.ts";
import { scriptNameOf, serviceNameFromEnviron, serviceNameOf } from "../lib/sources/http/process_resource.ts";
import { createRouteNormaliser } from "../lib/sources/http/route.ts";
import { exeGlob, parsePorts } from "../lib/sources/http/selectors.ts";
import { parentSpanIdOf, traceIdOf } from "../lib/sources/http/span_shape.ts";
import { parseTraceparent } from "../lib/sources/http/traceparent.ts";
import { UserError } from "../lib/core/errors.ts";

const enc = new TextEncoder();

Deno.test("classify: request, response, TLS, HTTP/2, binary, too short", () => {
  strictEqual(classify(enc.encode("GET / HTTP/1.1\r\n")), "request");
  strictEqual(classify(enc.encode("HTTP/1.1 200 OK\r\n")), "response");
  strictEqual(classify(new Uint8Array([0x16, 0x03, 0x01, 0, 5])), "tls");
  strictEqual(classify(enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), "http2");
  strictEqual(classify(new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])), "not_http");
  strictEqual(classify(enc.encode("GE")), "incomplete");
  strictEqual(classify(enc.encode("BREW /pot HTTP/1.1\r\n")), "not_http");
});

Deno.test("parseRequestHead: line, query, headers, head length; partial heads", () => {
  const text = "POST /a/b?x=1&y=2 HTTP/1.1\r\nHost: h:1\r\nContent-Length: 12\r\n" +
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\nbody";
  const h = parseRequestHead(enc.encode(text))!;
  strictEqual(h.method, "POST");
  strictEqual(h.path, "/a/b");
  strictEqual(h.query, "x=1&y=2");
  strictEqual(h.version, "1.1");
  strictEqual(h.host, "h:1");
  strictEqual(h.contentLength, 12);
  strictEqual(h.headLength, text.length - 4);
  assert(h.traceparent?.startsWith("00-4bf9"));
  const partial = parseRequestHead(enc.encode("GET /x HTTP/1.0\r\nHost: a\r\n"))!;
  strictEqual(partial.headLength, undefined);
  strictEqual(partial.close, true, "HTTP/1.0 closes by default");
  strictEqual(parseRequestHead(enc.encode("GET /x HTTP/1.1")), undefined, "no line end yet");
  strictEqual(parseRequestHead(enc.encode("GET /x HTTP/2\r\n\r\n")), undefined);
  strictEqual(parseRequestHead(enc.encode("GET http://h/p?q HTTP/1.1\r\n\r\n"))!.path, "/p");
});

Deno.test("parseResponseHead and chunk ends", () => {
  const r = parseResponseHead(enc.encode("HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"))!;
  strictEqual(r.status, 503);
  strictEqual(r.chunked, true);
  strictEqual(parseResponseHead(enc.encode("HTTP/1.1 20")), undefined);
  strictEqual(parseResponseHead(enc.encode("HTTP/1.1 2x0 OK\r\n")), undefined);
  assert(endsWithLastChunk(enc.encode("5\r\nthree\r\n0\r\n\r\n")));
  assert(endsWithLastChunk(enc.encode("0\r\n\r\n")));
  assert(!endsWithLastChunk(enc.encode("10\r\n\r\n")));
});

Deno.test("routes: ids, UUIDs, long hex, tokens; templates first", () => {
  const r = createRouteNormaliser(["/orders/{order}/items/{item}"]);
  strictEqual(r.route("/users/123"), "/users/{id}");
  strictEqual(r.route("/users/123/posts/9"), "/users/{id}/posts/{id}");
  strictEqual(r.route("/o/0b8a4a9e-3f3c-4c1e-9a55-0a1b2c3d4e5f"), "/o/{id}");
  strictEqual(r.route("/blob/deadbeefcafebabe0123"), "/blob/{id}");
  strictEqual(r.route("/s/abcDEF123ghiJKL456mnoP"), "/s/{id}");
  strictEqual(r.route("/api/v2/users"), "/api/v2/users");
  strictEqual(r.route("/orders/A7/items/B9"), "/orders/{order}/items/{item}");
  strictEqual(r.route("/"), "/");
  throws(() => createRouteNormaliser(["nope"]));
});

Deno.test("traceparent: valid, invalid, zero ids, future versions", () => {
  deepStrictEqual(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
  });
  strictEqual(parseTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), undefined);
  strictEqual(parseTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), undefined);
  strictEqual(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"), undefined);
  assert(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
  strictEqual(parseTraceparent("garbage"), undefined);
});

Deno.test("process naming: target env, interpreter scripts, executables", () => {
  const env = enc.encode("PATH=/bin\0OTEL_RESOURCE_ATTRIBUTES=a=b,service.name=from%20attrs\0SECRET=x\0");
  strictEqual(serviceNameFromEnviron(env), "from attrs");
  strictEqual(
    serviceNameFromEnviron(enc.encode("OTEL_SERVICE_NAME=shop\0OTEL_RESOURCE_ATTRIBUTES=service.name=x\0")),
    "shop",
  );
  strictEqual(serviceNameFromEnviron(enc.encode("HOME=/root\0")), undefined);
  strictEqual(scriptNameOf(["/usr/bin/python3", "-u", "/srv/app.py", "--port", "5"]), "app");
  strictEqual(scriptNameOf(["python3.11", "-m", "flask", "run"]), "flask");
  strictEqual(scriptNameOf(["node", "--require", "x.js", "server.mjs"]), "server");
  strictEqual(scriptNameOf(["python3", "-c", "print(1)"]), undefined);
  strictEqual(scriptNameOf(["/srv/go_server"]), undefined);
  strictEqual(serviceNameOf({ executableName: "go_server", argv: ["/srv/go_server"] }, 5), "go_server");
  strictEqual(serviceNameOf({}, 5), "unknown_service:pid-5");
});

Deno.test("selectors and params: OBI port syntax, bounds, exit 2", () => {
  deepStrictEqual(parsePorts(["80,443", "8000-8002"]), [80, 443, 8000, 8001, 8002]);
  for (const bad of ["0", "70000", "9-1", "80,,81", "x", "1-5000"]) {
    throws(() => parsePorts([bad]), (e: unknown) => e instanceof UserError && e.exitCode === 2, bad);
  }
  deepStrictEqual(parseHttpParams({ capture_bytes: "2048", routes: "/a/{x}", url_query: "true" }), {
    captureBytes: 2048,
    routes: ["/a/{x}"],
    urlQuery: true,
    commandLine: false,
    linkGraceMs: undefined,
  });
  assert(exeGlob("*/python3*").test("/usr/bin/python3.11"));
  assert(exeGlob("/srv/app-?").test("/srv/app-1"));
  assert(!exeGlob("/srv/app").test("/srv/app2"), "the whole path must match");
  assert(!exeGlob("/srv/a.b").test("/srv/aXb"), "a dot is a dot");
  throws(() => exeGlob("python3"), UserError);
  throws(() => parseHttpParams({ nope: "1" }), UserError);
  throws(() => parseHttpParams({ capture_bytes: "99999" }), UserError);
  throws(() => parseHttpParams({ routes: "a/b" }), UserError);
});

// ---------------------------------------------------------------------------
// The tracker, fed with events as the BPF program would send them.

let clock = 1_000_000n;
function ev(kind: EventKindValue, sock: number, pid: number, tid: number, data = "", ret?: number): HttpEvent {
  clock += 1000n;
  const bytes = enc.encode(data);
  return {
    kind,
    startNs: clock - 500n,
    endNs: clock,
    sock,
    ret: ret ?? bytes.length,
    pid,
    tid,
    lport: 0,
    rport: 0,
    headerOffset: 0,
    data: bytes,
  };
}

/** A tracker whose connections get addresses from `addr` by socket. */
function tracker(
  addr: Record<number, [string, number, string, number]>,
  capture = 1024,
  threadFollowsRequest?: (pid: number) => boolean,
) {
  const ended: Exchange[] = [];
  const t = createExchangeTracker({
    captureBytes: capture,
    onEnded: (x) => ended.push(x),
    addresses: (e) => {
      const [local, lport, remote, rport] = addr[e.sock];
      e.lport = lport;
      e.rport = rport;
      return { local, remote };
    },
    errnoName: (n) => (n === 104 ? "ECONNRESET" : `errno ${n}`),
    threadFollowsRequest,
  });
  return { t, ended };
}

const REQ = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const RES = (status: number, body = "ok") => `HTTP/1.1 ${status} X\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

Deno.test("tracker: keep-alive gives one exchange per request; Content-Length ends it", () => {
  const { t, ended } = tracker({ 1: ["127.0.0.1", 80, "127.0.0.1", 5000] });
  t.handle(ev(EventKind.ACCEPT, 1, 10, 10, "", 5));
  for (const p of ["/a", "/b", "/c"]) {
    t.handle(ev(EventKind.RECV, 1, 10, 10, REQ(p)));
    t.handle(ev(EventKind.SEND, 1, 10, 10, RES(200)));
  }
  deepStrictEqual(ended.map((x) => [x.request.path, x.response?.status, x.endReason]), [
    ["/a", 200, "complete"],
    ["/b", 200, "complete"],
    ["/c", 200, "complete"],
  ]);
  strictEqual(t.stats().openExchanges, 0);
});

Deno.test("tracker: a head split over reads is put together; the body is counted; pipelining is counted", () => {
  const { t, ended } = tracker({ 1: ["127.0.0.1", 80, "127.0.0.1", 5000] });
  t.handle(ev(EventKind.RECV, 1, 10, 10, "POST /p HTTP/1.1\r\nContent-Le"));
  t.handle(
    ev(
      EventKind.RECV,
      1,
      10,
      10,
      "ngth: 4\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
    ),
  );
  t.handle(ev(EventKind.RECV, 1, 10, 10, "abcd"));
  t.handle(ev(EventKind.RECV, 1, 10, 10, REQ("/pipelined")));
  t.handle(ev(EventKind.SEND, 1, 10, 10, RES(201)));
  strictEqual(ended.length, 1);
  strictEqual(ended[0].request.contentLength, 4);
  strictEqual(ended[0].remoteParent?.spanId, "00f067aa0ba902b7");
  strictEqual(t.stats().unparsed.pipelined, 1);
});

Deno.test("tracker: close without a response is an error; ECONNRESET fails a client exchange", () => {
  const { t, ended } = tracker({
    1: ["127.0.0.1", 80, "127.0.0.1", 5000],
    2: ["127.0.0.1", 5001, "127.0.0.1", 9000],
  });
  t.handle(ev(EventKind.RECV, 1, 10, 10, REQ("/x")));
  t.handle(ev(EventKind.CLOSE, 1, 10, 10, "", 0));
  t.handle(ev(EventKind.SEND, 2, 10, 11, REQ("/y")));
  t.handle(ev(EventKind.RECV, 2, 10, 11, "", -104));
  deepStrictEqual(ended.map((x) => [x.role, x.error]), [["server", "no_response"], ["client", "ECONNRESET"]]);
});

Deno.test("tracker: linking by 4-tuple in either arrival order, and by thread", () => {
  // process 10 serves on :80 and calls :9000 (process 20) from the serving thread
  const { t, ended } = tracker({
    1: ["127.0.0.1", 80, "127.0.0.1", 40000], // 10's accepted connection
    2: ["127.0.0.1", 41000, "127.0.0.1", 9000], // 10's outgoing connection
    3: ["127.0.0.1", 9000, "127.0.0.1", 41000], // 20's accepted connection (other end of 2)
  });
  t.handle(ev(EventKind.RECV, 1, 10, 11, REQ("/front")));
  // the backend's read is reported before the client's write (other CPU)
  const write = ev(EventKind.SEND, 2, 10, 11, REQ("/back"));
  t.handle(ev(EventKind.RECV, 3, 20, 21, REQ("/back")));
  t.handle(write);
  t.handle(ev(EventKind.SEND, 3, 20, 21, RES(200)));
  t.handle(ev(EventKind.RECV, 2, 10, 11, RES(200)));
  t.handle(ev(EventKind.SEND, 1, 10, 11, RES(200)));
  const [back, client, front] = ended;
  strictEqual(back.request.path, "/back");
  strictEqual(back.parent, client);
  strictEqual(client.parent, front);
  strictEqual(front.parent, undefined);
  strictEqual(traceIdOf(back), traceIdOf(front));
  strictEqual(parentSpanIdOf(back), client.spanId);
  strictEqual(parentSpanIdOf(client), front.spanId);
});

Deno.test("tracker: TLS and HTTP/2 connections are counted once and ignored", () => {
  const { t, ended } = tracker({ 1: ["127.0.0.1", 443, "127.0.0.1", 5000], 2: ["127.0.0.1", 80, "127.0.0.1", 5001] });
  t.handle(ev(EventKind.RECV, 1, 10, 10, "\x16\x03\x01\x00\x05hello"));
  t.handle(ev(EventKind.RECV, 1, 10, 10, REQ("/looks-like-http-but-is-inside-tls")));
  t.handle(ev(EventKind.RECV, 2, 10, 10, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  strictEqual(ended.length, 0);
  strictEqual(t.stats().unparsed.tls, 1);
  strictEqual(t.stats().unparsed.http2, 1);
});

Deno.test("tracker: a request line split over reads (Go's 1-byte read) starts at the first byte", () => {
  const { t, ended } = tracker({ 1: ["127.0.0.1", 80, "127.0.0.1", 5000] });
  const first = ev(EventKind.RECV, 1, 10, 10, "G");
  t.handle(first);
  t.handle(ev(EventKind.RECV, 1, 10, 10, "ET /items/1 HT"));
  t.handle(ev(EventKind.RECV, 1, 10, 10, "TP/1.1\r\nHost: x\r\n\r\n"));
  t.handle(ev(EventKind.SEND, 1, 10, 10, RES(200)));
  strictEqual(ended.length, 1);
  strictEqual(ended[0].request.path, "/items/1");
  strictEqual(ended[0].startNs, first.endNs);
  strictEqual(ended[0].endReason, "complete");
  strictEqual(t.stats().unparsed.too_long, 0);
});

Deno.test("tracker: a CONNECT tunnel and a 101 upgrade end their exchange; what follows is not HTTP", () => {
  const { t, ended } = tracker({ 1: ["127.0.0.1", 3128, "127.0.0.1", 5000], 2: ["127.0.0.1", 80, "127.0.0.1", 5001] });
  t.handle(ev(EventKind.ACCEPT, 1, 10, 10, "", 5));
  t.handle(ev(EventKind.RECV, 1, 10, 10, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
  t.handle(ev(EventKind.SEND, 1, 10, 10, "HTTP/1.1 200 Connection established\r\n\r\n"));
  t.handle(ev(EventKind.RECV, 1, 10, 10, "\x16\x03\x01\x00\x05hello"));
  t.handle(ev(EventKind.RECV, 2, 10, 10, REQ("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n")));
  t.handle(ev(EventKind.SEND, 2, 10, 10, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"));
  t.handle(ev(EventKind.RECV, 2, 10, 10, REQ("/looks-like-http-inside-websocket")));
  deepStrictEqual(ended.map((x) => [x.request.method, x.response?.status, x.endReason]), [
    ["CONNECT", 200, "complete"],
    ["GET", 101, "complete"],
  ]);
  strictEqual(t.stats().unparsed.upgraded, 2);
  strictEqual(t.stats().unparsed.tls, 0, "the tunnel's bytes are not looked at");
});

Deno.test("tracker: no thread context for runtimes whose threads do not follow a request (Go)", () => {
  const { t, ended } = tracker(
    {
      1: ["127.0.0.1", 80, "127.0.0.1", 40000],
      2: ["127.0.0.1", 41000, "127.0.0.1", 9000],
    },
    1024,
    (pid) => pid !== 10,
  );
  t.handle(ev(EventKind.RECV, 1, 10, 11, REQ("/front")));
  t.handle(ev(EventKind.SEND, 2, 10, 11, REQ("/back")));
  t.handle(ev(EventKind.RECV, 2, 10, 11, RES(200)));
  t.handle(ev(EventKind.SEND, 1, 10, 11, RES(200)));
  const [client, front] = ended;
  strictEqual(client.parent, undefined, "not guessed from the thread");
  strictEqual(front.parent, undefined);
  strictEqual(t.stats().threadContextOff, 1);
});

Deno.test("events: a record's header, bytes and addresses (IPv4, IPv6, IPv4-mapped)", () => {
  const rec = (family: number, local: number[], remote: number[]) => {
    const b = new Uint8Array(96 + 3);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, 111n, true);
    v.setBigUint64(8, 222n, true);
    v.setUint32(16, 0xdeadbeef, true);
    v.setUint32(20, 0xffff8881, true);
    v.setBigInt64(24, -104n, true);
    v.setUint32(32, 42, true);
    v.setUint32(36, 43, true);
    v.setUint32(44, 3, true);
    v.setUint16(48, 8080, true);
    v.setUint16(50, 51000, true);
    b[52] = EventKind.RECV;
    b[53] = family;
    b.set(local, 56);
    b.set(remote, 72);
    b.set([65, 66, 67], 96);
    return b;
  };
  const e = decodeEvent(rec(2, [127, 0, 0, 1], [10, 1, 2, 3]), 0, 99, blankEvent());
  deepStrictEqual(
    [e.startNs, e.endNs, e.sock, e.ret, e.pid, e.tid, e.lport, e.rport, e.kind, new TextDecoder().decode(e.data)],
    [111n, 222n, 0x8881 * 0x1_0000_0000 + 0xdeadbeef, -104, 42, 43, 8080, 51000, EventKind.RECV, "ABC"],
  );
  deepStrictEqual(addressesOf(rec(2, [127, 0, 0, 1], [10, 1, 2, 3]), e), { local: "127.0.0.1", remote: "10.1.2.3" });
  const v6 = rec(10, [...new Array(15).fill(0), 1], [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 5]);
  deepStrictEqual(addressesOf(v6, decodeEvent(v6, 0, 99, blankEvent())), { local: "::1", remote: "2001:db8::5" });
  const mapped = rec(10, [...new Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1], [
    ...new Array(10).fill(0),
    0xff,
    0xff,
    1,
    2,
    3,
    4,
  ]);
  deepStrictEqual(addressesOf(mapped, decodeEvent(mapped, 0, 99, blankEvent())), {
    local: "127.0.0.1",
    remote: "1.2.3.4",
  });
  throws(() => decodeEvent(rec(2, [], []), 0, 98, blankEvent()), /captured/);
});

Deno.test("tracker: a traced process's exit ends its open exchanges (error process_exit) and forgets its connections", () => {
  const { t, ended } = tracker({ 1: ["127.0.0.1", 80, "127.0.0.1", 5000], 2: ["127.0.0.1", 80, "127.0.0.1", 5001] });
  t.handle(ev(EventKind.RECV, 1, 10, 10, REQ("/slow")));
  t.handle(ev(EventKind.RECV, 2, 11, 11, REQ("/other-process")));
  t.handle(ev(EventKind.EXIT, 0, 10, 10, "", 0));
  deepStrictEqual(ended.map((x) => [x.request.path, x.error, x.endReason]), [[
    "/slow",
    "process_exit",
    "process_exit",
  ]]);
  strictEqual(t.stats().connections, 1);
});
