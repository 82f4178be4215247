/**
 * Go probe records to spans, for the cases the end-to-end test does not
 * reach: a response writer that is not HTTP/1's (no status), HTTP/2, a path
 * longer than the record's buffer, an exec error, a record of unknown kind
 * or the wrong size. The layout is `struct go_span` of probes/go.bpf.c.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { createGoSpanDecoder, GO_KIND, GO_SPAN_SIZE } from "../lib/sources/go/go_spans.ts";
import { dbSystemOf } from "../lib/sources/go/db_system.ts";
import type { Resource } from "../lib/core/span_data.ts";

const resource: Resource = { attributes: { "service.name": "t" } };
const enc = new TextEncoder();

interface Fields {
  kind: number;
  flags?: number;
  status?: number;
  proto?: [number, number];
  method?: string;
  text?: string;
  host?: string;
  ua?: string;
}

/** A record as the BPF side writes it (string lengths are the Go lengths, bytes cut to the buffers). */
function record(f: Fields): Uint8Array {
  const b = new Uint8Array(GO_SPAN_SIZE);
  const dv = new DataView(b.buffer);
  b.set(Array.from({ length: 16 }, (_, i) => i + 1), 0); // trace id
  b.set([9, 9, 9, 9, 9, 9, 9, 9], 24); // span id
  dv.setBigUint64(32, 1_000n, true); // start (monotonic)
  dv.setBigUint64(40, 500n, true); // duration
  dv.setBigUint64(48, 42n, true); // goid
  dv.setUint32(56, 1234, true);
  dv.setUint16(60, f.status ?? 0, true);
  b[62] = f.kind;
  b[63] = f.flags ?? 0;
  const [major, minor] = f.proto ?? [1, 1];
  dv.setUint16(64, (major << 8) | minor, true);
  const put = (s: string | undefined, lenAt: number, lenBytes: 2 | 4, at: number, cap: number) => {
    if (s === undefined) return;
    const bytes = enc.encode(s);
    if (lenBytes === 2) dv.setUint16(lenAt, bytes.length, true);
    else dv.setUint32(lenAt, bytes.length, true);
    b.set(bytes.subarray(0, cap), at);
  };
  put(f.method, 66, 2, 96, 16);
  put(f.text, 68, 4, 112, 256);
  put(f.host, 72, 2, 368, 64);
  put(f.ua, 74, 2, 432, 128);
  return b;
}

const decoder = createGoSpanDecoder(() => resource);
const decode = (f: Fields) => {
  const r = record(f);
  return decoder.decode(r, 0, r.length, 1_000_000_000n);
};

Deno.test("go spans: a server span behind a non-HTTP/1 response writer has no status; HTTP/2 is version 2", () => {
  const s = decode({ kind: GO_KIND.SERVER, flags: 4, proto: [2, 0], method: "POST", text: "/x", host: "h:8443" });
  strictEqual(s.name, "POST /x");
  strictEqual(s.attributes["http.response.status_code"], undefined);
  strictEqual(s.attributes["network.protocol.version"], "2");
  strictEqual(s.attributes["server.port"], 8443);
  strictEqual(s.status.code, 0);
  strictEqual(s.startNs, 1_000_001_000n);
  strictEqual(s.endNs, 1_000_001_500n);
  strictEqual(s.traceId, "0102030405060708090a0b0c0d0e0f10");
  strictEqual(s.parentSpanId, undefined);
  strictEqual(s.resource, resource);
});

Deno.test("go spans: a path longer than the buffer is cut to it; no Host means port 80", () => {
  const long = "/" + "a".repeat(400);
  const s = decode({ kind: GO_KIND.SERVER, status: 503, method: "GET", text: long });
  strictEqual(s.attributes["url.path"], long.slice(0, 256));
  strictEqual(s.attributes["server.port"], 80);
  // a cut never splits a character
  const wide = "/" + "é".repeat(200); // 401 bytes: the 256-byte cut falls inside an "é"
  strictEqual(decode({ kind: GO_KIND.SERVER, text: wide }).attributes["url.path"], "/" + "é".repeat(127));
  strictEqual(s.attributes["http.response.status_code"], 503);
  strictEqual(s.status.code, 2);
});

Deno.test("go spans: client errors and 4xx are ERROR; an exec error is ERROR with its operation", () => {
  const failed = decode({ kind: GO_KIND.CLIENT, flags: 1, method: "GET", text: "/a", host: "b:1" });
  deepStrictEqual([failed.name, failed.kind, failed.status.code], ["GET", 3, 2]);
  strictEqual(failed.attributes["http.response.status_code"], undefined);
  const notFound = decode({ kind: GO_KIND.CLIENT, status: 404, method: "GET", text: "/a", host: "b:1" });
  strictEqual(notFound.status.code, 2);
  const exec = decode({ kind: GO_KIND.EXEC, flags: 1, text: "update t set x = 1" });
  deepStrictEqual([exec.name, exec.attributes["db.operation.name"], exec.status.code], ["UPDATE", "UPDATE", 2]);
  const odd = decode({ kind: GO_KIND.QUERY, text: "(select 1)" });
  deepStrictEqual([odd.name, odd.attributes["db.operation.name"]], ["query", undefined]);
});

Deno.test("go spans: a record of unknown kind or short size is refused", () => {
  throws(() => decode({ kind: 9 }), /unknown kind 9/);
  throws(() => decoder.decode(new Uint8Array(100), 0, 100, 0n), /100 bytes/);
});

Deno.test("go spans: db.system.name from the one SQL driver a binary links", () => {
  strictEqual(dbSystemOf(["main.main", "github.com/lib/pq.(*conn).Query", "github.com/lib/pq.Open"]), "postgresql");
  strictEqual(dbSystemOf(["github.com/go-sql-driver/mysql.(*mysqlConn).Query"]), "mysql");
  strictEqual(dbSystemOf(["github.com/lib/pq.Open", "github.com/mattn/go-sqlite3.Open"]), undefined, "two: unknown");
  strictEqual(dbSystemOf(["main.tinyDriver.Open"]), undefined);
  const r = record({ kind: GO_KIND.QUERY, text: "select 1" });
  strictEqual(
    createGoSpanDecoder(() => resource, "mysql").decode(r, 0, r.length, 0n).attributes["db.system.name"],
    "mysql",
  );
  strictEqual(decoder.decode(r, 0, r.length, 0n).attributes["db.system.name"], undefined);
});
