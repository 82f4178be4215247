import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert";
import { encodeOtlpTraceJson } from "../lib/export/otlp_json.ts";
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import { gzipBytes } from "../lib/export/otlp_send.ts";
import { decodeWire, sampleSpans, startOtlpReceiver } from "./support/otlp_receiver.ts";

const proto = () => encodeOtlpTraceProto(sampleSpans(), "1");

async function post(url: string, body: BodyInit, headers: Record<string, string>) {
  const res = await fetch(url, { method: "POST", body, headers });
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
}

Deno.test("receiver: listens on 127.0.0.1 at /v1/traces and records spans and requests", async () => {
  const r = await startOtlpReceiver();
  try {
    ok(/^http:\/\/127\.0\.0\.1:\d+\/v1\/traces$/.test(r.url), r.url);
    ok(r.url === `${r.baseUrl}/v1/traces`, r.baseUrl);
    const before = Date.now();
    const res = await post(r.url, proto() as Uint8Array<ArrayBuffer>, {
      "content-type": "application/x-protobuf",
      "x-extra": "1",
    });
    strictEqual(res.status, 200);
    strictEqual(res.headers.get("content-type"), "application/x-protobuf");
    strictEqual(res.body.length, 0);
    strictEqual(r.spans.length, sampleSpans().length);
    strictEqual(r.spans[0].startNs, 1795313354907507123n);
    strictEqual(r.spans[0].requestIndex, 0);
    const req = r.requests[0];
    ok(req.arrivedAt >= before && req.arrivedAt <= Date.now());
    strictEqual(req.headers["x-extra"], "1");
    strictEqual(req.spanCount, sampleSpans().length);
    strictEqual(req.accepted, true);
    strictEqual(req.status, 200);
  } finally {
    await r.close();
  }
});

Deno.test("receiver: JSON and gzip bodies decode to the same spans as protobuf", async () => {
  const r = await startOtlpReceiver();
  try {
    await post(r.url, proto() as Uint8Array<ArrayBuffer>, { "content-type": "application/x-protobuf" });
    const json = encodeOtlpTraceJson(sampleSpans(), "1");
    const res = await post(r.url, json, { "content-type": "application/json; charset=utf-8" });
    strictEqual(res.status, 200);
    strictEqual(new TextDecoder().decode(res.body), "{}");
    await post(r.url, await gzipBytes(proto()) as Uint8Array<ArrayBuffer>, {
      "content-type": "application/x-protobuf",
      "content-encoding": "gzip",
    });
    const n = sampleSpans().length;
    strictEqual(r.spans.length, 3 * n);
    const strip = (s: (typeof r.spans)[number]) => ({ ...s, requestIndex: 0 });
    deepStrictEqual(r.spans.slice(n, 2 * n).map(strip), r.spans.slice(0, n).map(strip));
    deepStrictEqual(r.spans.slice(2 * n).map(strip), r.spans.slice(0, n).map(strip));
    strictEqual(r.requests[2].contentEncoding, "gzip");
    ok(r.requests[2].wireBytes !== r.requests[2].bodyBytes);
  } finally {
    await r.close();
  }
});

Deno.test("receiver: bad requests are answered 4xx and not recorded as spans", async () => {
  const r = await startOtlpReceiver();
  try {
    strictEqual((await post(r.url, "x", { "content-type": "text/plain" })).status, 415);
    strictEqual((await post(r.url, "{", { "content-type": "application/json" })).status, 400);
    strictEqual(
      (await post(r.url, new Uint8Array([0x0a, 0x05]), { "content-type": "application/x-protobuf" })).status,
      400,
    );
    strictEqual(
      (await post(r.url.replace("/v1/traces", "/v1/logs"), "{}", { "content-type": "application/json" })).status,
      404,
    );
    const get = await fetch(r.url);
    await get.body?.cancel();
    strictEqual(get.status, 405);
    strictEqual(r.spans.length, 0);
    strictEqual(r.requests.length, 5);
    ok(r.requests[1].error);
  } finally {
    await r.close();
  }
});

Deno.test("receiver: behaviors apply in order, `times` at a time, then ok", async () => {
  const r = await startOtlpReceiver({
    behavior: [
      { kind: "status", status: 503, retryAfter: 2, times: 2 },
      { kind: "partial", rejectedSpans: 4, errorMessage: "meh", times: 1 },
    ],
  });
  try {
    const send = () => post(r.url, proto() as Uint8Array<ArrayBuffer>, { "content-type": "application/x-protobuf" });
    const a = await send();
    strictEqual(a.status, 503);
    strictEqual(a.headers.get("retry-after"), "2");
    strictEqual((await send()).status, 503);
    const partial = await send();
    strictEqual(partial.status, 200);
    const ps = decodeWire(partial.body);
    strictEqual(ps[0].field, 1);
    deepStrictEqual(decodeWire(ps[0].value as Uint8Array).map((f) => [f.field, f.value]), [
      [1, 4n],
      [2, new TextEncoder().encode("meh")],
    ]);
    strictEqual((await send()).status, 200);
    deepStrictEqual(r.requests.map((q) => q.behavior), ["status", "status", "partial", "ok"]);
    deepStrictEqual(r.requests.map((q) => q.accepted), [false, false, true, true]);
    strictEqual(r.spans.length, 2 * sampleSpans().length);

    await r.setBehavior({ kind: "partial", rejectedSpans: 1 });
    const json = await post(r.url, encodeOtlpTraceJson(sampleSpans(), "1"), { "content-type": "application/json" });
    deepStrictEqual(JSON.parse(new TextDecoder().decode(json.body)), {
      partialSuccess: { rejectedSpans: "1", errorMessage: "" },
    });
  } finally {
    await r.close();
  }
});

Deno.test("receiver: down refuses connections on the same port until set back", async () => {
  const r = await startOtlpReceiver();
  try {
    const port = r.port;
    await r.setBehavior("down");
    await rejects(fetch(r.url, { method: "POST", body: "{}", headers: { "content-type": "application/json" } }));
    await r.setBehavior("ok");
    strictEqual(r.port, port);
    strictEqual((await post(r.url, "{}", { "content-type": "application/json" })).status, 200);
  } finally {
    await r.close();
  }
});

Deno.test("receiver: slow answers late; close cuts the wait", async () => {
  const r = await startOtlpReceiver({ behavior: { kind: "slow", delayMs: 150 } });
  try {
    const started = performance.now();
    strictEqual((await post(r.url, "{}", { "content-type": "application/json" })).status, 200);
    ok(performance.now() - started >= 140);
    await r.setBehavior({ kind: "slow", delayMs: 60_000 });
    const pending = post(r.url, "{}", { "content-type": "application/json" }).catch(() => undefined);
    await r.waitForRequests(2);
    const closing = performance.now();
    await r.close();
    ok(performance.now() - closing < 30_000, "close did not wait for the 60 s slow answer");
    await pending;
  } finally {
    await r.close();
  }
});

Deno.test("receiver: waitForSpans resolves on arrival and rejects on timeout", async () => {
  const r = await startOtlpReceiver();
  try {
    const waiting = r.waitForSpans(2, 2000);
    await post(r.url, proto() as Uint8Array<ArrayBuffer>, { "content-type": "application/x-protobuf" });
    strictEqual((await waiting).length, sampleSpans().length);
    await rejects(r.waitForSpans(1000, 50), /timed out waiting for 1000 spans/);
    strictEqual((await r.waitForRequests(1)).length, 1);
    r.clear();
    strictEqual(r.spans.length, 0);
    strictEqual(r.requests.length, 0);
  } finally {
    await r.close();
    await r.close();
  }
});
