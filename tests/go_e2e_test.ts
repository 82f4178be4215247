/**
 * The Go probe end to end: `spanprobe run --probe go --pid PID` (and
 * `--exe PATH`) under exactly the launcher's permission set, tracing a real
 * Go 1.19 program built by the test (tests/targets/go_http), exporting to
 * the real loopback OTLP receiver. Exact span counts, semantic-convention
 * attributes, parents (client and query spans under the server span of
 * their goroutine), a W3C traceparent joined, and the clear errors of the
 * CLI for stripped, non-Go and net/http-less binaries.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { startAgent } from "./support/agent_process.ts";
import { ebpfSkipReason, ROOT, runSpanprobe } from "./support/ebpf.ts";
import {
  buildGoProgram,
  goSkipReason,
  goTempDir,
  requireRunnable,
  skipGoTest,
  startGoProgram,
} from "./support/go_build.ts";
import { type ReceivedSpan, startOtlpReceiver } from "./support/otlp_receiver.ts";

const reason = ebpfSkipReason() ?? goSkipReason();
const skip = skipGoTest("go_e2e_test.ts", reason);

async function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(url, { headers });
  await res.body?.cancel();
  return res.status;
}

const byName = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);

Deno.test({
  name: "go probe: server, client and database/sql spans from an unmodified Go program, through the CLI",
  ignore: skip,
  async fn(t) {
    requireRunnable(reason);
    const dir = await goTempDir();
    const receiver = await startOtlpReceiver();
    try {
      const bin = await buildGoProgram("go_http", dir);
      const certPath = `${dir}/cert.pem`;
      const target = await startGoProgram(bin, { GO_HTTP_TLS_CERT: certPath });
      try {
        const [port, backendPort] = target.ready.map(Number);
        const base = `http://127.0.0.1:${port}`;

        await t.step("--pid: exact counts, attributes, parents, traceparent", async () => {
          const agent = await startAgent([
            "run",
            "--probe",
            "go",
            "--pid",
            String(target.pid),
            "--endpoint",
            receiver.baseUrl,
            "--param",
            "goroutines=true",
          ]);
          const ua = { "user-agent": "spanprobe-test/1" };
          for (let i = 0; i < 5; i++) strictEqual(await get(`${base}/ok`, ua), 200);
          for (let i = 0; i < 3; i++) strictEqual(await get(`${base}/fail`, ua), 500);
          for (let i = 0; i < 2; i++) strictEqual(await get(`${base}/missing`, ua), 404);
          for (let i = 0; i < 2; i++) strictEqual(await get(`${base}/users/${40 + i}`, ua), 200);
          for (let i = 0; i < 2; i++) strictEqual(await get(`${base}/call`, ua), 200);
          for (let i = 0; i < 2; i++) strictEqual(await get(`${base}/query`, ua), 200);
          for (let i = 0; i < 2; i++) strictEqual(await get(`${base}/async`, ua), 200);
          const traceId = "0af7651916cd43dd8448eb211c80319c";
          const parentId = "b7ad6b7169203331";
          strictEqual(await get(`${base}/ok`, { ...ua, traceparent: `00-${traceId}-${parentId}-01` }), 200);
          // 19 server spans + 2 backend server spans + 2 client spans + 3 × 2 + 2 query spans
          const expected = 19 + 2 + 2 + 8;
          await receiver.waitForSpans(expected, 20_000);
          strictEqual(await agent.stop(), 0, agent.logs.join("\n"));
          const spans = receiver.spans;
          strictEqual(spans.length, expected, spans.map((s) => s.name).join(", "));
          ok(agent.logs.some((l) => l.includes("runtime.newproc1 (1 RET)")), "goroutines=true attaches newproc1");

          const servers = spans.filter((s) => s.kind === 2);
          strictEqual(servers.length, 21);
          for (const s of servers) {
            const path = s.attributes["url.path"] as string;
            strictEqual(s.name, `GET ${path}`);
            strictEqual(s.attributes["http.request.method"], "GET");
            strictEqual(s.attributes["network.protocol.version"], "1.1");
            strictEqual(s.attributes["server.address"], "127.0.0.1");
            const backend = path === "/backend";
            strictEqual(s.attributes["server.port"], backend ? backendPort : port);
            strictEqual(s.attributes["user_agent.original"], backend ? "Go-http-client/1.1" : "spanprobe-test/1");
            const code = { "/fail": 500, "/missing": 404 }[path] ?? 200;
            strictEqual(s.attributes["http.response.status_code"], code, path);
            strictEqual(s.status.code, code >= 500 ? 2 : 0, path);
            ok(s.endNs > s.startNs && s.endNs - s.startNs < 5_000_000_000n, "plausible duration");
            strictEqual(s.resource["process.pid"], target.pid);
            strictEqual(s.resource["service.name"], "go_http");
          }
          deepStrictEqual(
            Object.fromEntries(
              ["/ok", "/fail", "/missing", "/users/40", "/users/41", "/call", "/query", "/async", "/backend"]
                .map((p) => [p, byName(servers, `GET ${p}`).length]),
            ),
            {
              "/ok": 6,
              "/fail": 3,
              "/missing": 2,
              "/users/40": 1,
              "/users/41": 1,
              "/call": 2,
              "/query": 2,
              "/async": 2,
              "/backend": 2,
            },
          );
          const joined = byName(servers, "GET /ok").filter((s) => s.traceId === traceId);
          strictEqual(joined.length, 1, "the request with a traceparent joins that trace");
          strictEqual(joined[0].parentSpanId, parentId);
          for (const s of servers) if (s !== joined[0]) strictEqual(s.parentSpanId, "", "other server spans are roots");

          const clients = spans.filter((s) => s.kind === 3 && s.attributes["http.request.method"] !== undefined);
          strictEqual(clients.length, 2);
          const calls = byName(servers, "GET /call");
          for (const c of clients) {
            strictEqual(c.name, "GET");
            strictEqual(c.attributes["url.path"], "/backend");
            strictEqual(c.attributes["server.address"], "127.0.0.1");
            strictEqual(c.attributes["server.port"], backendPort);
            strictEqual(c.attributes["http.response.status_code"], 200);
            const parent = calls.find((s) => s.spanId === c.parentSpanId);
            ok(parent, "a client span is a child of the /call server span that made it");
            strictEqual(c.traceId, parent.traceId);
            ok(c.startNs >= parent.startNs && c.endNs <= parent.endNs, "client span inside its parent");
          }
          ok(clients[0].parentSpanId !== clients[1].parentSpanId, "one client span per /call request");

          const queries = spans.filter((s) => s.attributes["db.query.text"] !== undefined);
          strictEqual(queries.length, 8);
          // a goroutine the handler starts inherits the request: its query is the /async span's child
          for (const server of byName(servers, "GET /async")) {
            const mine = queries.filter((q) => q.parentSpanId === server.spanId);
            deepStrictEqual(mine.map((q) => q.attributes["db.query.text"]), ["SELECT async FROM users"]);
            strictEqual(mine[0].traceId, server.traceId);
            ok(mine[0].attributes["go.goroutine.id"] !== server.attributes["go.goroutine.id"], "another goroutine");
          }
          const queryServers = byName(servers, "GET /query");
          for (const server of queryServers) {
            const mine = queries.filter((q) => q.parentSpanId === server.spanId);
            deepStrictEqual(
              mine.map((q) => [q.name, q.attributes["db.operation.name"], q.attributes["db.query.text"], q.status.code])
                .sort(),
              [
                ["INSERT", "INSERT", "INSERT INTO users (name) VALUES (?)", 0],
                ["SELECT", "SELECT", "SELECT fail FROM nowhere", 2],
                ["SELECT", "SELECT", "SELECT name FROM users WHERE id = ?", 0],
              ],
            );
            for (const q of mine) {
              strictEqual(q.kind, 3);
              strictEqual(q.attributes["db.system.name"], undefined, "the test's own driver is no known system");
              strictEqual(q.traceId, server.traceId);
            }
          }
        });

        await t.step(
          "an entry run again after stack growth is recognised and counted; still one span per call (custom spec)",
          async () => {
            receiver.clear();
            // main.stackProbe has queryDC's register layout: trace it with the query programs, from a spec
            // in its own folder with a copy of the BPF program (the custom-probe route)
            await Deno.copyFile(`${ROOT}probes/go.bpf.c`, `${dir}/go-stack.bpf.c`);
            await Deno.writeTextFile(
              `${dir}/go-stack.yaml`,
              "description: test\ngo:\n  ringbuf: go_spans\n  functions:\n" +
                "    - { symbol: main.stackProbe, entry: go_query_entry, return: go_db_return }\n",
            );
            const agent = await startAgent([
              "run",
              "--probe",
              `${dir}/go-stack.yaml`,
              "--pid",
              String(target.pid),
              "--endpoint",
              receiver.baseUrl,
            ]);
            const n = 400;
            strictEqual(await get(`${base}/deep?n=${n}`), 200);
            await receiver.waitForSpans(n, 30_000);
            strictEqual(await agent.stop(), 0, agent.logs.join("\n"));
            strictEqual(receiver.spans.length, n, "one span per call");
            for (const s of receiver.spans) {
              strictEqual(s.attributes["db.query.text"], "SELECT stack");
              strictEqual(s.status.code, 0);
            }
            const detach = agent.logs.map((l) => JSON.parse(l)).find((l) => l.msg === "Go probe detaching");
            ok(detach.reentered_entries > 0, `stack growth re-ran the entry: ${JSON.stringify(detach)}`);
            strictEqual(detach.returns_without_entry, 0);
          },
        );

        await t.step(
          "over TLS: HTTP/2 (its status read through the writer state) and HTTP/1.1",
          async () => {
            receiver.clear();
            const agent = await startAgent([
              "run",
              "--probe",
              "go",
              "--pid",
              String(target.pid),
              "--endpoint",
              receiver.baseUrl,
            ]);
            const caCerts = [await Deno.readTextFile(certPath)];
            for (const http2 of [true, false]) {
              const client = Deno.createHttpClient({ caCerts, http2, http1: !http2 });
              try {
                const res = await fetch(`https://127.0.0.1:${target.ready[2]}/fail`, { client });
                await res.body?.cancel();
                strictEqual(res.status, 500);
              } finally {
                client.close();
              }
            }
            await receiver.waitForSpans(2, 20_000);
            strictEqual(await agent.stop(), 0, agent.logs.join("\n"));
            strictEqual(receiver.spans.length, 2);
            const [h2, h1] = ["2", "1.1"].map((v) =>
              receiver.spans.find((s) => s.attributes["network.protocol.version"] === v)!
            );
            ok(h2 && h1, JSON.stringify(receiver.spans.map((s) => s.attributes)));
            for (const s of [h1, h2]) {
              strictEqual(
                s.attributes["http.response.status_code"],
                500,
                String(s.attributes["network.protocol.version"]),
              );
              strictEqual(s.status.code, 2);
            }
            for (const s of [h1, h2]) strictEqual(s.attributes["server.port"], Number(target.ready[2]));
          },
        );

        await t.step("--exe: every process of the binary; the target keeps serving after the agent stops", async () => {
          receiver.clear();
          const agent = await startAgent(["run", "--probe", "go", "--exe", bin, "--endpoint", receiver.baseUrl]);
          strictEqual(await get(`${base}/users/7`), 200);
          await receiver.waitForSpans(1, 20_000);
          strictEqual(await agent.stop(), 0, agent.logs.join("\n"));
          strictEqual(receiver.spans.length, 1);
          strictEqual(receiver.spans[0].name, "GET /users/7");
          // without --param goroutines=true the goroutine-creation probe stays off
          ok(!agent.logs.some((l) => l.includes("runtime.newproc1")), agent.logs.join("\n"));
          strictEqual(receiver.spans[0].resource["process.pid"], target.pid);
          // nothing is attached any more: the target keeps serving, untraced
          strictEqual(await get(`${base}/ok`), 200);
        });
      } finally {
        const status = await target.kill();
        strictEqual(status.signal, "SIGKILL", "the traced program ran until the test killed it");
      }

      await t.step("--exe, position-independent build, process started after the agent", async () => {
        receiver.clear();
        const pie = await buildGoProgram("go_http", dir, ["-buildmode=pie"], "go_http_pie");
        const agent = await startAgent(["run", "--probe", "go", "--exe", pie, "--endpoint", receiver.baseUrl]);
        const late = await startGoProgram(pie);
        try {
          const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
          const tp = `00-${traceId}-00f067aa0ba902b7-01`;
          strictEqual(await get(`http://127.0.0.1:${late.ready[0]}/query`, { traceparent: tp }), 200);
          await receiver.waitForSpans(4, 20_000);
          strictEqual(await agent.stop(), 0, agent.logs.join("\n"));
          strictEqual(receiver.spans.length, 4);
          for (const s of receiver.spans) {
            strictEqual(s.traceId, traceId);
            strictEqual(s.resource["process.pid"], late.pid);
          }
          const server = byName(receiver.spans, "GET /query")[0];
          strictEqual(server.parentSpanId, "00f067aa0ba902b7");
          strictEqual(server.attributes["http.response.status_code"], 200);
          strictEqual(receiver.spans.filter((s) => s.parentSpanId === server.spanId).length, 3);
        } finally {
          await late.kill();
        }
      });

      await t.step("--pid: the agent ends by itself when the traced program exits, spans delivered", async () => {
        receiver.clear();
        const short = await startGoProgram(bin);
        const agent = await startAgent([
          "run",
          "--probe",
          "go",
          "--pid",
          String(short.pid),
          "--endpoint",
          receiver.baseUrl,
        ]);
        strictEqual(await get(`http://127.0.0.1:${short.ready[0]}/ok`), 200);
        await receiver.waitForSpans(1, 20_000);
        await short.kill();
        strictEqual(await agent.exited, 0, agent.logs.join("\n"));
        ok(agent.logs.some((l) => l.includes("traced Go process exited")), agent.logs.join("\n"));
        strictEqual(receiver.spans.length, 1);
      });

      await t.step("clear errors through the CLI: stripped, not Go, Go without net/http, bad usage", async () => {
        const stripped = await buildGoProgram("go_http", dir, ["-ldflags=-s -w"], "go_http_stripped");
        const plain = await buildGoProgram("go_plain", dir);
        const cases: [string[], string][] = [
          [["--exe", stripped], "stripped (no symbol table .symtab)"],
          [["--exe", "/usr/bin/true"], "not a Go program"],
          [["--exe", plain], "without net/http or database/sql"],
          [[], "give exactly one of --pid PID or --exe PATH"],
          [["--exe", "relative/path"], "give an absolute path"],
          [["--exe", plain, "--param", "goroutines=yes"], "--param goroutines=yes: expected true or false"],
        ];
        for (const [extra, message] of cases) {
          const res = await runSpanprobe(["run", "--probe", "go", ...extra, "--output", "console"]);
          strictEqual(res.code, 2, `${extra.join(" ")}: ${res.stderr}`);
          ok(res.stderr.includes(message), `${extra.join(" ")}: ${res.stderr}`);
          ok(!res.stderr.includes("    at "), "no stack trace");
        }
        const check = await runSpanprobe(["check", "--probe", "go"]);
        strictEqual(check.code, 0, check.stderr);
        ok(check.stdout.includes("ok  go (go)"), check.stdout);
      });
    } finally {
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
