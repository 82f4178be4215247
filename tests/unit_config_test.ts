/**
 * The agent's config file and command-line value parsers.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { parseAgentConfig, parseOutput, parsePairs } from "../lib/config/agent_config.ts";
import { UserError } from "../lib/core/errors.ts";

const FILE = "/etc/spanprobe/agent.yaml";

const FULL = `# spanprobe agent config
probes:
  - probe: usdt-requests
    params:
      binary: /usr/local/bin/shop
      provider: shop
      limit: 20
    pid: 4242
  - probe: ./probes/mine.yaml
service_name: shop
outputs:
  - console
  - otlp
  - file:/var/log/spans.jsonl
exporter:
  endpoint: http://collector:4318
  protocol: http/protobuf
  compression: gzip
  headers:
    authorization: Bearer abc=def
    x-tenant: 7
log:
  format: json
  level: debug
bpftrace: /opt/bpftrace/bin/bpftrace
flush_timeout_ms: 2500
stats_interval_ms: 60000
`;

Deno.test("parseAgentConfig: every setting", () => {
  deepStrictEqual(parseAgentConfig(FILE, FULL), {
    probes: [
      { probe: "usdt-requests", params: { binary: "/usr/local/bin/shop", provider: "shop", limit: "20" }, pid: 4242 },
      { probe: "./probes/mine.yaml", params: {}, pid: undefined },
    ],
    serviceName: "shop",
    outputs: [{ kind: "console" }, { kind: "otlp" }, { kind: "file", path: "/var/log/spans.jsonl" }],
    endpoint: "http://collector:4318",
    protocol: "http/protobuf",
    compression: "gzip",
    headers: { authorization: "Bearer abc=def", "x-tenant": "7" },
    logFormat: "json",
    logLevel: "debug",
    bpftrace: "/opt/bpftrace/bin/bpftrace",
    flushTimeoutMs: 2500,
    statsIntervalMs: 60000,
  });
});

Deno.test("parseAgentConfig: empty files and partial configs", () => {
  deepStrictEqual(parseAgentConfig(FILE, ""), {});
  deepStrictEqual(parseAgentConfig(FILE, "# nothing here\n"), {});
  deepStrictEqual(parseAgentConfig(FILE, "service_name: x\n"), { serviceName: "x" });
  deepStrictEqual(parseAgentConfig(FILE, "exporter:\n  protocol: grpc\n"), {
    endpoint: undefined,
    protocol: "grpc",
    compression: undefined,
  });
});

/** Replaces the unique occurrence of `from` in FULL. */
function edit(from: string, to: string): string {
  const at = FULL.indexOf(from);
  if (at < 0 || FULL.indexOf(from, at + 1) >= 0) throw new Error(`test bug: "${from}" not unique`);
  return FULL.slice(0, at) + to + FULL.slice(at + from.length);
}

function lineOf(text: string, token: string): number {
  const hits = text.split("\n").flatMap((l, i) => l.includes(token) ? [i + 1] : []);
  if (hits.length !== 1) throw new Error(`test bug: "${token}" on ${hits.length} lines`);
  return hits[0];
}

const mistakes: { name: string; text: string; token: string; says: RegExp }[] = [
  {
    name: "unknown top-level key",
    text: edit("service_name: shop\n", "service: shop\n"),
    token: "service: shop",
    says: /unknown key "service"/,
  },
  {
    name: "probe entry without probe",
    text: edit("  - probe: ./probes/mine.yaml\n", "  - pid: 12\n"),
    token: "- pid: 12",
    says: /probes\[1\]: probe is required/,
  },
  {
    name: "negative pid",
    text: edit("    pid: 4242\n", "    pid: -4\n"),
    token: "pid: -4",
    says: /probes\[0\]\.pid must be a process id/,
  },
  {
    name: "pid as text",
    text: edit("    pid: 4242\n", "    pid: shop\n"),
    token: "pid: shop",
    says: /pid must be a process id/,
  },
  {
    name: "unknown key in a probe entry",
    text: edit("    pid: 4242\n", "    pids: 4242\n"),
    token: "pids: 4242",
    says: /unknown key "pids" in probes\[0\]/,
  },
  {
    name: "unknown output",
    text: edit("  - otlp\n", "  - kafka\n"),
    token: "- kafka",
    says: /kafka: expected console, otlp or file:PATH/,
  },
  {
    name: "file output without a path",
    text: edit("  - file:/var/log/spans.jsonl\n", '  - "file:"\n'),
    token: '- "file:"',
    says: /expected console, otlp or file:PATH/,
  },
  {
    name: "unknown exporter key",
    text: edit("  compression: gzip\n", "  compresion: gzip\n"),
    token: "compresion",
    says: /unknown key "compresion" in exporter/,
  },
  {
    name: "headers not a mapping",
    text: edit("  headers:\n    authorization: Bearer abc=def\n    x-tenant: 7\n", "  headers: [a, b]\n"),
    token: "headers: [a, b]",
    says: /exporter\.headers must be a mapping/,
  },
  {
    name: "unknown log key",
    text: edit("  level: debug\n", "  lvl: debug\n"),
    token: "lvl: debug",
    says: /unknown key "lvl" in log/,
  },
  {
    name: "zero flush timeout",
    text: edit("flush_timeout_ms: 2500\n", "flush_timeout_ms: 0\n"),
    token: "flush_timeout_ms: 0",
    says: /flush_timeout_ms must be a positive number of milliseconds/,
  },
  {
    name: "infinite stats interval",
    text: edit("stats_interval_ms: 60000\n", "stats_interval_ms: .inf\n"),
    token: "stats_interval_ms: .inf",
    says: /stats_interval_ms must be a positive number/,
  },
  {
    name: "stats interval as text",
    text: edit("stats_interval_ms: 60000\n", "stats_interval_ms: 1m\n"),
    token: "stats_interval_ms: 1m",
    says: /stats_interval_ms must be a positive number/,
  },
  {
    name: "empty service name",
    text: edit("service_name: shop\n", 'service_name: ""\n'),
    token: "service_name:",
    says: /service_name must be a non-empty string/,
  },
  {
    name: "probes not a list",
    text: "service_name: a\nprobes: usdt-requests\n",
    token: "probes:",
    says: /probes must be a list/,
  },
  {
    name: "a parameter without a value",
    text: edit("      provider: shop\n", "      provider:\n"),
    token: "provider:",
    says: /probes\[0\]\.params\.provider needs a value/,
  },
  {
    name: "a parameter given as a list",
    text: edit("      provider: shop\n", "      provider: [a, b]\n"),
    token: "provider: [a, b]",
    says: /probes\[0\]\.params\.provider must be a single value/,
  },
  {
    name: "YAML syntax error",
    text: edit("  level: debug\n", "  level: debug\n  level: info\n"),
    token: "level: info",
    says: /invalid YAML/,
  },
];

for (const m of mistakes) {
  Deno.test(`parseAgentConfig: mistake: ${m.name} → UserError at file:line`, () => {
    let err: unknown;
    try {
      parseAgentConfig(FILE, m.text);
    } catch (e) {
      err = e;
    }
    if (!(err instanceof UserError)) throw new Error(`expected a UserError, got ${err}`);
    strictEqual(err.exitCode, 2);
    const where = /^\/etc\/spanprobe\/agent\.yaml:(\d+):\d+: /.exec(err.message);
    ok(where, `file:line:col in: ${err.message}`);
    strictEqual(Number(where[1]), lineOf(m.text, m.token), err.message);
    match(err.message, m.says);
  });
}

Deno.test("parseOutput: the three kinds", () => {
  deepStrictEqual(parseOutput("console"), { kind: "console" });
  deepStrictEqual(parseOutput("otlp"), { kind: "otlp" });
  deepStrictEqual(parseOutput("file:/tmp/s.jsonl"), { kind: "file", path: "/tmp/s.jsonl" });
  deepStrictEqual(parseOutput("file:rel/a:b"), { kind: "file", path: "rel/a:b" });
});

Deno.test("parseOutput: anything else is a UserError (exit 2)", () => {
  for (const text of ["", "Console", "file:", "file", "otlp:http://x", "stdout"]) {
    let err: unknown;
    try {
      parseOutput(text);
    } catch (e) {
      err = e;
    }
    ok(err instanceof UserError, JSON.stringify(text));
    strictEqual(err.exitCode, 2);
    ok(err.message.startsWith(`--output ${text}: `), err.message);
  }
});

Deno.test("parsePairs: NAME=VALUE, the first = splits, names trimmed, values verbatim", () => {
  deepStrictEqual(parsePairs([], "--param"), {});
  deepStrictEqual(
    parsePairs(["binary=/bin/sh", "auth=Bearer a=b", " pid =12", "empty=", "x=1", "x=2"], "--param"),
    { binary: "/bin/sh", auth: "Bearer a=b", pid: "12", empty: "", x: "2" },
  );
});

Deno.test("parsePairs: items without a name are UserErrors naming the option", () => {
  for (const item of ["novalue", "=v", "", " =v"]) {
    let err: unknown;
    try {
      parsePairs(["ok=1", item], "--header");
    } catch (e) {
      err = e;
    }
    ok(err instanceof UserError, `${JSON.stringify(item)} should be rejected`);
    strictEqual(err.exitCode, 2);
    strictEqual(err.message, `--header ${item}: expected NAME=VALUE`);
  }
});
