/**
 * CPU cost of the http source's user-space path per request, without the
 * kernel: Go-style events (a 1-byte read, the rest of the request, the
 * response write) on 8 keep-alive connections go through the exchange
 * tracker, then span shaping, then OTLP protobuf encoding. Reported in CPU
 * ns per request (process CPU time, not wall time: the machine is shared).
 *
 *   deno run -A bench/http_tracker_bench.ts [--requests 200000]
 * @module
 */
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import type { HttpEvent } from "../lib/sources/http/events.ts";
import { createExchangeTracker, type Exchange } from "../lib/sources/http/exchanges.ts";
import { createRouteNormaliser } from "../lib/sources/http/route.ts";
import { spanOfExchange } from "../lib/sources/http/span_shape.ts";
import type { SpanData } from "../lib/core/span_data.ts";

const i = Deno.args.indexOf("--requests");
const N = i >= 0 ? Number(Deno.args[i + 1]) : 200_000;
const enc = new TextEncoder();
const req = enc.encode("GET /items/1 HTTP/1.1\r\nHost: 127.0.0.1:33881\r\nUser-Agent: wrk\r\n\r\n");
const res = enc.encode(
  'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 30 Nov 2026 10:41:11 GMT\r\nContent-Length: 10\r\n\r\n{"item":1}',
);
const routes = createRouteNormaliser();
const resource = { attributes: { "service.name": "bench" } };
let clock = 1n;
const event = (kind: 3 | 4, sock: number, data: Uint8Array): HttpEvent => ({
  kind,
  startNs: clock++,
  endNs: clock++,
  sock,
  ret: data.length,
  pid: 1,
  tid: 2,
  lport: 80,
  rport: 5000 + sock,
  headerOffset: 0,
  data,
});

/** Runs N requests through the stages up to `stage`; CPU ns per request. */
function run(stage: "track" | "shape" | "encode"): number {
  let ended: Exchange[] = [];
  const t = createExchangeTracker({
    captureBytes: 1024,
    onEnded: (x) => ended.push(x),
    addresses: () => ({ local: "127.0.0.1", remote: "127.0.0.1" }),
    errnoName: String,
  });
  const t0 = process.cpuUsage();
  for (let n = 0; n < N; n++) {
    const s = n % 8;
    t.handle(event(3, s, req.subarray(0, 1)));
    t.handle(event(3, s, req.subarray(1)));
    t.handle(event(4, s, res));
    if (ended.length >= 512 || n === N - 1) {
      let spans: SpanData[] = [];
      if (stage !== "track") {
        spans = ended.map((x) => spanOfExchange(x, { routes, urlQuery: false, wallOffsetNs: 0n, resource }));
      }
      for (const x of ended) t.release(x);
      if (stage === "encode") encodeOtlpTraceProto(spans);
      ended = [];
    }
  }
  const u = process.cpuUsage(t0);
  return ((u.user + u.system) * 1000) / N;
}

run("encode"); // warm-up
const track = run("track"), shape = run("shape"), encode = run("encode");
console.log(`http source, user space, CPU ns per request (${N} requests, 3 events each):`);
console.log(
  `  tracker ${track.toFixed(0)}; + span shaping ${(shape - track).toFixed(0)}; + OTLP encoding ${
    (encode - shape).toFixed(0)
  }; total ${encode.toFixed(0)}`,
);
