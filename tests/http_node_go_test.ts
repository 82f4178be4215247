/**
 * Zero-code HTTP spans from a Node `http` server (keep-alive, chunked
 * responses) and a Go 1.19 `net/http` server (built by the test into a
 * temporary folder), through the CLI to the loopback OTLP receiver; TLS,
 * HTTP/2 and binary traffic to the same servers is counted as unparsed and
 * never becomes a span.
 */
import assert, { strictEqual } from "node:assert/strict";
import { announceSkip, ebpfSkipReason, ROOT } from "./support/ebpf.ts";
import { startAgent, startTarget, summaryOf, waitUntil } from "./support/http_targets.ts";
import { isGoProcess } from "../lib/sources/http/go_binary.ts";
import { type ReceivedSpan, startOtlpReceiver } from "./support/otlp_receiver.ts";

const skip = announceSkip("http_node_go_test.ts", ebpfSkipReason());
const SERVER = 2, ERROR = 2;

interface Made {
  method: string;
  path: string;
  status: number;
  durationNs: bigint;
}

async function request(base: string, method: string, path: string, body?: string): Promise<Made> {
  const t0 = process.hrtime.bigint();
  const res = await fetch(`${base}${path}`, { method, body });
  await res.arrayBuffer();
  return { method, path, status: res.status, durationNs: process.hrtime.bigint() - t0 };
}

/** Sends `bytes` on a fresh connection and reads until the server closes it (so it surely read them). */
async function junk(port: number, bytes: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes as Uint8Array<ArrayBuffer>);
    await conn.closeWrite(); // a server still waiting for a line end sees EOF
    const buf = new Uint8Array(4096);
    while ((await conn.read(buf)) !== null) { /* the server's error reply */ }
  } catch {
    /* reset by the server: it read the bytes */
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

const TLS_HELLO = new Uint8Array([
  0x16,
  0x03,
  0x01,
  0x00,
  0x2f,
  0x01,
  0x00,
  0x00,
  0x2b,
  0x03,
  0x03,
  ...new Array(41).fill(7),
]);
const H2_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const BINARY = new Uint8Array([0, 1, 2, 3, 0xfe, 0xff, 10, 13, 10, 13, 10]);

/** Runs the request set against `target` under the agent and checks every span. */
async function checkServer(
  t: { pid: number; port: number },
  serviceName: string,
  requests: [string, string, string?][],
): Promise<void> {
  const receiver = await startOtlpReceiver();
  try {
    const agent = await startAgent([
      "run",
      "--probe",
      "http",
      "--open-port",
      String(t.port),
      "--endpoint",
      receiver.baseUrl,
    ]);
    const base = `http://127.0.0.1:${t.port}`;
    // the first accept selects the process: do the unparsed traffic after one real request
    const made: Made[] = [await request(base, "GET", "/items/1")];
    await junk(t.port, TLS_HELLO);
    await junk(t.port, H2_PREFACE);
    await junk(t.port, BINARY);
    for (const [method, path, body] of requests) made.push(await request(base, method, path, body));
    await waitUntil(() => receiver.spans.length >= made.length, () => `${receiver.spans.length}/${made.length} spans`);
    const { code, stderr } = await agent.stop();
    strictEqual(code, 0, stderr);
    const spans = receiver.spans;
    strictEqual(spans.length, made.length, spans.map((s) => s.name).join("\n"));
    const left = new Set<ReceivedSpan>(spans);
    for (const m of made) {
      const s = [...left].find((x) =>
        x.attributes["url.path"] === m.path && x.attributes["http.request.method"] === m.method
      );
      assert(s, `a span for ${m.method} ${m.path}`);
      left.delete(s);
      strictEqual(s.kind, SERVER);
      const route = /^\/items\/\d+$/.test(m.path) ? "/items/{id}" : m.path;
      strictEqual(s.name, `${m.method} ${route}`);
      strictEqual(s.attributes["http.response.status_code"], m.status);
      strictEqual(s.attributes["server.port"], t.port);
      strictEqual(s.status.code, m.status >= 500 ? ERROR : 0);
      assert(s.endNs > s.startNs);
      assert(s.endNs - s.startNs <= m.durationNs, `${m.path}: within the client's measurement`);
      strictEqual(s.resource["process.pid"], t.pid);
      strictEqual(s.resource["service.name"], serviceName);
    }
    const ports = spans.map((s) => s.attributes["client.port"]);
    assert(new Set(ports).size < ports.length, `keep-alive: several requests per connection (${ports.join(",")})`);
    const summary = summaryOf(stderr);
    strictEqual(summary["http.unparsed.tls"], 1, stderr);
    strictEqual(summary["http.unparsed.http2"], 1, stderr);
    strictEqual(summary["http.unparsed.not_http"], 1, stderr);
    strictEqual(summary.spans_unaccounted, 0);
  } finally {
    await receiver.close();
  }
}

Deno.test({
  name: "Node http server: keep-alive and chunked responses; TLS/HTTP2/binary counted as unparsed",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const target = await startTarget("node", [`${ROOT}tests/targets/http_server_node.js`]);
    try {
      await checkServer(target, "http_server_node", [
        ["GET", "/items/2"],
        ["GET", "/items/3"],
        ["GET", "/stream"],
        ["GET", "/items/4"],
        ["GET", "/boom"],
        ["GET", "/nope"],
        ["GET", "/stream"],
      ]);
    } finally {
      await target.stop();
    }
  },
});

Deno.test({
  name: "Go 1.19 net/http server: server spans; TLS/HTTP2/binary counted as unparsed",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-go-" });
    try {
      const build = await new Deno.Command("go", {
        args: ["build", "-o", `${dir}/go_http_server`, `${ROOT}tests/targets/http_server_go.go`],
        cwd: dir,
        stderr: "piped",
      }).output();
      assert(build.success, new TextDecoder().decode(build.stderr));
      const target = await startTarget(`${dir}/go_http_server`, []);
      try {
        // thread context is off for Go processes (their goroutines move between threads)
        assert(isGoProcess(target.pid), "a Go binary is recognised");
        assert(!isGoProcess(Deno.pid), "deno is not Go");
        await checkServer(target, "go_http_server", [
          ["GET", "/items/2"],
          ["POST", "/items", "y".repeat(300)],
          ["GET", "/stream"],
          ["GET", "/items/3"],
          ["GET", "/boom"],
          ["GET", "/nope"],
        ]);
      } finally {
        await target.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "--exe selects running and later-started processes by executable path; others are not traced",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-go-exe-" });
    const receiver = await startOtlpReceiver();
    const targets: { stop(): Promise<void> }[] = [];
    try {
      const build = await new Deno.Command("go", {
        args: ["build", "-o", `${dir}/go_http_server`, `${ROOT}tests/targets/http_server_go.go`],
        cwd: dir,
        stderr: "piped",
      }).output();
      assert(build.success, new TextDecoder().decode(build.stderr));
      await Deno.copyFile(`${dir}/go_http_server`, `${dir}/other_server`);
      const before = await startTarget(`${dir}/go_http_server`, []);
      const other = await startTarget(`${dir}/other_server`, []);
      targets.push(before, other);
      const agent = await startAgent([
        "run",
        "--probe",
        "http",
        "--exe",
        `${dir}/go_http_*`,
        "--endpoint",
        receiver.baseUrl,
        "--log-level",
        "debug",
      ]);
      const after = await startTarget(`${dir}/go_http_server`, []); // started while the agent runs
      targets.push(after);
      // selected from its exec event (the agent logs it); its calls before that are not seen
      await waitUntil(
        () => agent.logs.some((l) => l.msg === "executable selected" && l.pid === after.pid),
        () => `no "executable selected" log for pid ${after.pid}`,
      );
      for (const t of [before, other, after]) {
        for (const id of [1, 2]) {
          const res = await fetch(`http://127.0.0.1:${t.port}/items/${id}`);
          await res.arrayBuffer();
        }
      }
      await waitUntil(() => receiver.spans.length >= 4, () => `${receiver.spans.length}/4 spans`);
      const { code, stderr } = await agent.stop();
      strictEqual(code, 0, stderr);
      strictEqual(
        receiver.spans.length,
        4,
        receiver.spans.map((s) => `${s.resource["process.pid"]} ${s.name}`).join("\n"),
      );
      const pids = receiver.spans.map((s) => s.resource["process.pid"]);
      strictEqual(pids.filter((p) => p === before.pid).length, 2);
      strictEqual(pids.filter((p) => p === after.pid).length, 2);
      for (const s of receiver.spans) strictEqual(s.resource["service.name"], "go_http_server");
    } finally {
      for (const t of targets) await t.stop();
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
