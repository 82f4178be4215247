/**
 * Zero-code HTTP spans end to end: real Python servers (http.server and the
 * seed's Flask frontend → backend demo, no SDK), the real kernel, spanprobe's
 * CLI under the launcher's permission set, and the real loopback OTLP
 * receiver. Counts are exact; every span is checked against the request
 * the test made.
 */
import assert, { deepStrictEqual, strictEqual } from "node:assert/strict";
import { announceSkip, ebpfSkipReason, ROOT } from "./support/ebpf.ts";
import { startAgent, startTarget, summaryOf, waitUntil } from "./support/http_targets.ts";
import { type ReceivedSpan, startOtlpReceiver } from "./support/otlp_receiver.ts";

const skip = announceSkip("http_python_test.ts", ebpfSkipReason());
const PY = "/usr/bin/python3"; // Debian's, with python3-flask
const SERVER_PY = `${ROOT}tests/targets/http_server.py`;
const FLASK_PY = `${ROOT}tests/targets/flask_app.py`;
const SERVER = 2, CLIENT = 3, ERROR = 2;

interface Made {
  method: string;
  path: string;
  status: number;
  /** Client-measured duration, ns. */
  durationNs: bigint;
  bodySize?: number;
}

/** Makes a request with fetch (keep-alive pooled), measuring its duration until the body is read. */
async function request(
  base: string,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Made> {
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${base}${path}`, { method, body, headers });
  await res.arrayBuffer();
  const durationNs = process.hrtime.bigint() - t0;
  return { method, path, status: res.status, durationNs, bodySize: body?.length };
}

function byPath(spans: ReceivedSpan[], kind: number): Map<string, ReceivedSpan> {
  const m = new Map<string, ReceivedSpan>();
  for (const s of spans.filter((x) => x.kind === kind)) {
    const key = `${s.attributes["http.request.method"]} ${s.attributes["url.path"]}`;
    assert(!m.has(key), `two spans for ${key}`);
    m.set(key, s);
  }
  return m;
}

Deno.test({
  name: "http.server: one server span per request (keep-alive), OTEL_EBPF_OPEN_PORT alias, noise not traced",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const receiver = await startOtlpReceiver();
    const target = await startTarget(PY, [SERVER_PY]);
    const noise = await startTarget(PY, [SERVER_PY]);
    try {
      const agent = await startAgent(
        ["run", "--probe", "http", "--endpoint", receiver.baseUrl, "--flush-timeout", "10000"],
        { OTEL_EBPF_OPEN_PORT: String(target.port) },
      );
      const base = `http://127.0.0.1:${target.port}`;
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736", parentId = "00f067aa0ba902b7";
      const made: Made[] = [];
      for (const id of [101, 102, 103]) made.push(await request(base, "GET", `/items/${id}`));
      made.push(await request(base, "POST", "/items", "x".repeat(500), { "Content-Type": "text/plain" }));
      made.push(await request(base, "GET", "/missing"));
      made.push(await request(base, "GET", "/boom"));
      made.push(await request(base, "GET", "/items/104?token=secret"));
      made.push(await request(base, "GET", "/items/105", undefined, { traceparent: `00-${traceId}-${parentId}-01` }));
      // noise: the same server program on a port that is not selected
      for (let i = 0; i < 5; i++) await request(`http://127.0.0.1:${noise.port}`, "GET", `/items/${i}`);
      await waitUntil(() => receiver.spans.length >= made.length, () => `${receiver.spans.length} spans`);
      const { code, stderr } = await agent.stop();
      strictEqual(code, 0, stderr);
      const spans = receiver.spans;
      strictEqual(spans.length, made.length, `exactly one span per request:\n${spans.map((s) => s.name).join("\n")}`);
      const server = byPath(spans, SERVER);
      for (const m of made) {
        const path = m.path.split("?")[0];
        const s = server.get(`${m.method} ${path}`);
        assert(s, `no span for ${m.method} ${path}`);
        const route = /^\/items\/\d+$/.test(path) ? "/items/{id}" : path;
        strictEqual(s.name, `${m.method} ${route}`);
        strictEqual(s.attributes["http.route"], route);
        strictEqual(s.attributes["http.response.status_code"], m.status);
        strictEqual(s.attributes["server.port"], target.port);
        strictEqual(s.attributes["server.address"], "127.0.0.1");
        strictEqual(s.attributes["client.address"], "127.0.0.1");
        assert(Number(s.attributes["client.port"]) > 0);
        strictEqual(s.attributes["network.protocol.version"], "1.1");
        assert(!("url.query" in s.attributes), "url.query is off by default");
        strictEqual(s.status.code, m.status >= 500 ? ERROR : 0, `${s.name} status`);
        if (m.bodySize) strictEqual(s.attributes["http.request.body.size"], m.bodySize);
        assert(s.endNs > s.startNs, "positive duration");
        assert(s.endNs - s.startNs <= m.durationNs, `${s.name}: server time within the client's own measurement`);
        strictEqual(s.resource["process.pid"], target.pid);
        strictEqual(s.resource["service.name"], "http_server");
      }
      const joined = server.get("GET /items/105")!;
      strictEqual(joined.traceId, traceId);
      strictEqual(joined.parentSpanId, parentId);
      const roots = spans.filter((s) => s !== joined);
      assert(roots.every((s) => s.parentSpanId === ""), "requests without traceparent are roots");
      strictEqual(new Set(roots.map((s) => s.traceId)).size, roots.length, "one trace per root request");
      // fetch keeps connections alive: several requests shared a client port
      const ports = spans.map((s) => s.attributes["client.port"]);
      assert(new Set(ports).size < ports.length, `keep-alive: client ports ${ports.join(",")}`);
      const summary = summaryOf(stderr);
      strictEqual(summary.spans_unaccounted, 0);
      strictEqual(summary.dropped_ringbuf_full ?? 0, 0);
    } finally {
      await target.stop();
      await noise.stop();
      await receiver.close();
    }
  },
});

Deno.test({
  name: "http.server selected by --pid, route templates and url.query by --param; bad selections exit 2",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const receiver = await startOtlpReceiver();
    const target = await startTarget(PY, [SERVER_PY]);
    try {
      const agent = await startAgent([
        "run",
        "--probe",
        "http",
        "--pid",
        String(target.pid),
        "--param",
        "http.routes=/nope/{thing}",
        "--param",
        "http.url_query=true",
        "--endpoint",
        receiver.baseUrl,
      ]);
      const base = `http://127.0.0.1:${target.port}`;
      const made = [await request(base, "GET", "/items/7?a=1"), await request(base, "GET", "/nope/abc")];
      await waitUntil(() => receiver.spans.length >= 2, () => `${receiver.spans.length} spans`);
      const { code, stderr } = await agent.stop();
      strictEqual(code, 0, stderr);
      deepStrictEqual(receiver.spans.map((s) => s.name).sort(), ["GET /items/{id}", "GET /nope/{thing}"]);
      deepStrictEqual(receiver.spans.map((s) => s.attributes["url.query"] ?? "").sort(), ["", "a=1"]);
      deepStrictEqual(receiver.spans.map((s) => s.attributes["http.response.status_code"]).sort(), [200, 404]);
      strictEqual(made.length, receiver.spans.length);
      for (const s of receiver.spans) {
        strictEqual(s.resource["process.pid"], target.pid);
        assert(String(s.resource["process.executable.name"]).startsWith("python3"));
      }
    } finally {
      await target.stop();
      await receiver.close();
    }
    for (
      const [args, env, message] of [
        [["--probe", "http"], {}, "needs a selection"],
        [["--probe", "http", "--open-port", "70000"], {}, "is not a port"],
        [["--probe", "http", "--open-port", "9-1"], {}, "is empty"],
        [["--probe", "http"], { OTEL_EBPF_OPEN_PORT: "80,x" }, "OTEL_EBPF_OPEN_PORT"],
        [["--open-port", "80", "--probe", "exec-trace"], {}, "add --probe http"],
        [["--probe", "http", "--exe", "server"], {}, "starts with / or *"],
        [["--probe", "http", "--open-port", "80", "--param", "capture_bytes=9"], {}, "capture_bytes"],
      ] as [string[], Record<string, string>, string][]
    ) {
      const child = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${ROOT}main.ts`, "run", ...args, "-o", "console"],
        env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(child.stderr);
      strictEqual(child.code, 2, `${args.join(" ")}: ${err}`);
      assert(err.includes(message), `${args.join(" ")}: ${err}`);
      assert(!err.includes("    at "), "no stack trace");
    }
  },
});

Deno.test({
  name: "Flask frontend → Flask backend (no SDK): one trace per request, correct parents, service names",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const receiver = await startOtlpReceiver();
    const backend = await startTarget(PY, [FLASK_PY, "backend"], { OTEL_SERVICE_NAME: "inventory-backend" });
    const frontend = await startTarget(PY, [FLASK_PY, "frontend"], {
      BACKEND_URL: `http://127.0.0.1:${backend.port}`,
    });
    try {
      const agent = await startAgent([
        "run",
        "--probe",
        "http",
        "--open-port",
        `${frontend.port},${backend.port}`,
        "--endpoint",
        receiver.baseUrl,
        "--flush-timeout",
        "10000",
      ]);
      const base = `http://127.0.0.1:${frontend.port}`;
      const ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
      const made = new Map<number, Made>();
      for (const id of ids) made.set(id, await request(base, "GET", `/process-order/${id}`));
      const traceId = "0af7651916cd43dd8448eb211c80319c", callerSpan = "b7ad6b7169203331";
      made.set(
        11,
        await request(base, "GET", "/process-order/11", undefined, {
          traceparent: `00-${traceId}-${callerSpan}-01`,
        }),
      );
      const expected = 3 * made.size;
      await waitUntil(() => receiver.spans.length >= expected, () => `${receiver.spans.length}/${expected} spans`);
      const { code, stderr } = await agent.stop();
      strictEqual(code, 0, stderr);
      const spans = receiver.spans;
      strictEqual(spans.length, expected, spans.map((s) => `${s.resource["service.name"]} ${s.name}`).join("\n"));
      const front = spans.filter((s) => s.resource["process.pid"] === frontend.pid);
      const back = spans.filter((s) => s.resource["process.pid"] === backend.pid);
      strictEqual(back.length, made.size);
      for (const s of front) strictEqual(s.resource["service.name"], "flask_app");
      for (const s of back) strictEqual(s.resource["service.name"], "inventory-backend");
      const frontServer = byPath(front, SERVER), frontClient = byPath(front, CLIENT), backServer = byPath(back, SERVER);
      for (const [id, m] of made) {
        const fs = frontServer.get(`GET /process-order/${id}`);
        assert(fs, `frontend server span for ${id}`);
        const method = id % 2 === 0 ? "POST" : "GET";
        const path = id % 2 === 0 ? `/api/orders/${id}` : `/api/inventory/${id}`;
        const status = id % 2 === 0 ? 201 : id % 7 === 0 ? 500 : id % 5 === 0 ? 404 : 200;
        const fc = frontClient.get(`${method} ${path}`);
        const bs = backServer.get(`${method} ${path}`);
        assert(fc && bs, `client and backend spans for ${id}`);
        strictEqual(m.status, status);
        strictEqual(fs.name, "GET /process-order/{id}");
        strictEqual(fc.name, `${method} ${id % 2 === 0 ? "/api/orders/{id}" : "/api/inventory/{id}"}`);
        strictEqual(bs.name, fc.name);
        for (const s of [fs, fc, bs]) strictEqual(s.attributes["http.response.status_code"], status);
        // the chain: frontend server → frontend client → backend server, one trace
        strictEqual(fc.parentSpanId, fs.spanId, `client span of ${id} is a child of the frontend's server span`);
        strictEqual(bs.parentSpanId, fc.spanId, `backend span of ${id} is a child of the client span`);
        strictEqual(fc.traceId, fs.traceId);
        strictEqual(bs.traceId, fs.traceId);
        if (id === 11) {
          strictEqual(fs.traceId, traceId);
          strictEqual(fs.parentSpanId, callerSpan);
        } else strictEqual(fs.parentSpanId, "");
        strictEqual(fc.attributes["server.port"], backend.port);
        strictEqual(bs.attributes["server.port"], backend.port);
        strictEqual(fc.attributes["client.port"], bs.attributes["client.port"]);
        strictEqual(fc.status.code, status >= 500 ? ERROR : 0);
        strictEqual(bs.status.code, status >= 500 ? ERROR : 0);
        if (method === "POST") strictEqual(bs.attributes["http.request.body.size"], 10);
        // nesting in time: backend inside client inside frontend, frontend inside the test's measurement
        assert(fc.startNs >= fs.startNs && fc.endNs <= fs.endNs, `client span of ${id} inside the server span`);
        assert(bs.endNs - bs.startNs <= fc.endNs - fc.startNs, `backend span of ${id} no longer than the call`);
        assert(fs.endNs - fs.startNs <= m.durationNs, `frontend span of ${id} within the test's measurement`);
      }
      strictEqual(new Set(front.filter((s) => s.kind === SERVER).map((s) => s.traceId)).size, made.size);
    } finally {
      await frontend.stop();
      await backend.stop();
      await receiver.close();
    }
  },
});

Deno.test({
  name: "urllib client (no server in it): CLIENT spans, ERROR for 5xx and for a connection closed before the response",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const receiver = await startOtlpReceiver();
    const server = await startTarget(PY, [SERVER_PY]);
    // a "server" that reads the request and hangs up without answering
    const rude = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const rudeLoop = (async () => {
      for await (const conn of rude) {
        await conn.read(new Uint8Array(4096)).catch(() => null);
        conn.close();
      }
    })().catch(() => {});
    const client = new Deno.Command(PY, {
      args: [`${ROOT}tests/targets/http_client.py`],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = client.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    const nextLine = async (): Promise<string> => {
      while (!buffered.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) throw new Error("client exited");
        buffered += value;
      }
      const i = buffered.indexOf("\n");
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      return line;
    };
    const writer = client.stdin.getWriter();
    const get = async (url: string) => {
      await writer.write(new TextEncoder().encode(url + "\n"));
      return await nextLine();
    };
    try {
      strictEqual(await nextLine(), "PORT 0");
      const agent = await startAgent([
        "run",
        "--probe",
        "http",
        "--pid",
        String(client.pid),
        "--endpoint",
        receiver.baseUrl,
      ]);
      const refused = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const refusedPort = (refused.addr as Deno.NetAddr).port;
      refused.close(); // nothing listens there now: connect is refused
      const base = `http://127.0.0.1:${server.port}`;
      deepStrictEqual(
        [
          await get(`${base}/items/9`),
          await get(`${base}/boom`),
          await get(`http://127.0.0.1:${(rude.addr as Deno.NetAddr).port}/hang-up`),
          await get(`http://127.0.0.1:${refusedPort}/refused`),
        ],
        ["200", "500", "ERR RemoteDisconnected", "ERR URLError"],
      );
      await waitUntil(() => receiver.spans.length >= 3, () => `${receiver.spans.length} spans`);
      const { code, stderr } = await agent.stop();
      strictEqual(code, 0, stderr);
      const spans = byPath(receiver.spans, CLIENT);
      strictEqual(receiver.spans.length, 3, receiver.spans.map((s) => s.name).join("\n"));
      const ok = spans.get("GET /items/9")!, boom = spans.get("GET /boom")!, cut = spans.get("GET /hang-up")!;
      strictEqual(ok.attributes["http.response.status_code"], 200);
      strictEqual(ok.status.code, 0);
      strictEqual(ok.attributes["server.port"], server.port);
      strictEqual(ok.name, "GET /items/{id}");
      strictEqual(boom.attributes["http.response.status_code"], 500);
      strictEqual(boom.status.code, ERROR);
      strictEqual(cut.status.code, ERROR);
      strictEqual(cut.attributes["error.type"], "connection_closed");
      assert(!("http.response.status_code" in cut.attributes));
      for (const s of [ok, boom, cut]) {
        strictEqual(s.resource["process.pid"], client.pid);
        strictEqual(s.resource["service.name"], "http_client");
        strictEqual(s.parentSpanId, "", "a client outside any server request is a root");
      }
      strictEqual(summaryOf(stderr)["http.connect_failed"], 1, "the refused connect is counted, not a span");
    } finally {
      await writer.close().catch(() => {});
      await client.status;
      rude.close();
      await rudeLoop;
      await server.stop();
      await receiver.close();
    }
  },
});
