// The tracing (spans) config: what loads, and bad configs as UserError
// (exit 2) pointing at file:line:col.
import { deepStrictEqual as assertEquals, ok as assert, throws } from "node:assert/strict";
import { loadTracingConfig, parseTracingConfig } from "../lib/config/tracing_config.ts";
import { UserError } from "../lib/core/errors.ts";
import { ROOT } from "./ringbuf_support.ts";

const BASE = `tracing:
  spans:
    - name: demo
      ringbuf: demo_spans
      service: demo-svc
      labels:
        - name: trace_id
          size: 16
          decoders:
            - name: hex
        - name: span_id
          size: 8
          padding: 8
          decoders:
            - name: hex
        - name: kind
          size: 4
          decoders:
            - name: uint
            - name: static_map
              static_map:
                1: one
                2: two
              allow_unknown: true
        - name: comm
          size: 16
          decoders:
            - name: string
            - name: regexp
              regexps: ["^ba", "sh$"]
`;

Deno.test("tracing config: a valid config loads with sizes and decoder options", () => {
  const c = parseTracingConfig("/etc/x.yaml", BASE);
  assertEquals(c.spans.length, 1);
  const s = c.spans[0];
  assertEquals([s.name, s.ringbuf, s.service, s.recordSize, s.where], [
    "demo",
    "demo_spans",
    "demo-svc",
    16 + 8 + 8 + 4 + 16,
    "/etc/x.yaml:3:7",
  ]);
  assertEquals(s.labels[1], { name: "span_id", size: 8, padding: 8, decoders: [{ name: "hex" }] });
  assertEquals(s.labels[2].decoders[1], {
    name: "static_map",
    static_map: { "1": "one", "2": "two" },
    allow_unknown: true,
  });
  assertEquals(s.labels[3].decoders[1], { name: "regexp", regexps: ["^ba", "sh$"] });
  assertEquals(c.attach, []);
});

Deno.test("tracing config: the shipped probe configs load", () => {
  for (const name of ["exec-trace", "joined-trace"]) {
    const c = loadTracingConfig(`${ROOT}probes/${name}.yaml`);
    assert(c.spans.length >= 1, name);
  }
  const joined = loadTracingConfig(`${ROOT}probes/joined-trace.yaml`);
  assertEquals(joined.spans.map((s) => [s.ringbuf, s.recordSize]), [
    ["request_spans", 88],
    ["syscall_spans", 80],
    ["off_cpu_spans", 64],
  ]);
  // Attach binaries are resolved against the config's directory.
  assertEquals(joined.attach[0].usdt?.binary, `${ROOT}probes/../.cache/rb_demo`);
});

Deno.test("tracing config: name defaults to the ring buffer's", () => {
  const c = parseTracingConfig(
    "x.yaml",
    "tracing:\n  spans:\n    - ringbuf: rb\n      labels:\n        - { name: a, size: 1, decoders: [{ name: uint }] }\n",
  );
  assertEquals(c.spans[0].name, "rb");
});

type Bad = [what: string, yaml: string, message: RegExp];
const bad: Bad[] = [
  ["YAML syntax", "tracing:\n  spans: [\n", /^bad\.yaml:\d+:\d+: invalid YAML/],
  ["no tracing", "metrics: {}\n", /^bad\.yaml:1:1: the config has no `tracing` section/],
  ["unknown top key", "tracin: {}\n", /^bad\.yaml:1:1: unknown key "tracin"/],
  ["no spans", "tracing: {}\n", /tracing needs a `spans` list/],
  ["empty spans", "tracing:\n  spans: []\n", /^bad\.yaml:2:10: tracing.spans is empty/],
  [
    "no ringbuf",
    "tracing:\n  spans:\n    - name: x\n      labels: []\n",
    /^bad\.yaml:3:7: tracing.spans\[0\] needs a ringbuf/,
  ],
  [
    "typo in span key",
    BASE.replace("service:", "servise:"),
    /^bad\.yaml:5:7: unknown key "servise" in tracing.spans\[0\]/,
  ],
  ["label without size", BASE.replace("          size: 16\n", ""), /^bad\.yaml:7:11: label "trace_id" needs a size/],
  ["zero size", BASE.replace("size: 4", "size: 0"), /^bad\.yaml:17:17: label "kind" size must be an integer ≥ 1/],
  ["negative padding", BASE.replace("padding: 8", "padding: -1"), /^bad\.yaml:13:20: label "span_id" padding/],
  [
    "trace_id size",
    BASE.replace(
      "size: 16\n          decoders:\n            - name: hex",
      "size: 8\n          decoders:\n            - name: hex",
    ),
    /label "trace_id" must be 16 bytes, got 8/,
  ],
  [
    "unknown decoder",
    BASE.replace("- name: hex\n        - name: span_id", "- name: hexx\n        - name: span_id"),
    /^bad\.yaml:10:15: label "trace_id" decoder 1: unknown decoder "hexx" \(known: .*uint/,
  ],
  [
    "static_map without map",
    BASE.replace(/ {14}static_map:\n {16}1: one\n {16}2: two\n/, ""),
    /^bad\.yaml:\d+:\d+: label "kind" decoder 2: static_map decoder needs a `static_map` mapping/,
  ],
  ["bad regexp", BASE.replace('"^ba"', '"("'), /label "comm" decoder 2: invalid regexp "\("/],
  [
    "no decoders",
    BASE.replace("          decoders:\n            - name: hex\n        - name: span_id", "        - name: span_id"),
    /label "trace_id" needs decoders/,
  ],
  [
    "duplicate label",
    BASE.replace("name: comm", "name: kind"),
    /^bad\.yaml:\d+:\d+: span "demo": label "kind" appears twice/,
  ],
  [
    "ring buffer twice",
    BASE + BASE.split("\n").slice(2).join("\n").replace("name: demo", "name: demo2"),
    /ring buffer "demo_spans" is already read by span "demo"/,
  ],
  [
    "attach without target",
    BASE + "  attach:\n    - program: p\n",
    /tracing.attach\[0\] needs exactly one of usdt or uprobe/,
  ],
  [
    "attach usdt without provider",
    BASE + "  attach:\n    - program: p\n      usdt: { binary: /bin/x, name: n }\n",
    /tracing.attach\[0\] usdt needs provider/,
  ],
];

for (const [what, yaml, message] of bad) {
  Deno.test(`tracing config: ${what} → clear error with position`, () => {
    throws(() => parseTracingConfig("bad.yaml", yaml), (e: unknown) => {
      assert(e instanceof UserError, String(e));
      assertEquals(e.exitCode, 2);
      assert(message.test(e.message), `${message} in: ${e.message}`);
      return true;
    });
  });
}

Deno.test("tracing config: a missing file is a UserError naming it", () => {
  throws(
    () => loadTracingConfig("/nonexistent/spans.yaml"),
    (e: unknown) => e instanceof UserError && e.exitCode === 2 && e.message.includes("/nonexistent/spans.yaml"),
  );
});

Deno.test("tracing config: attach targets (usdt, uprobe) with relative binaries", () => {
  const c = parseTracingConfig(
    "/srv/probes/x.yaml",
    BASE +
      "  attach:\n    - program: a\n      usdt: { binary: ../bin/demo, provider: p, name: n, pid: 42 }\n" +
      "    - program: b\n      uprobe: { binary: /usr/bin/x, symbol: main, retprobe: true }\n",
  );
  assertEquals(c.attach, [
    { program: "a", usdt: { binary: "/srv/probes/../bin/demo", provider: "p", name: "n", pid: 42 } },
    { program: "b", uprobe: { binary: "/usr/bin/x", symbol: "main", retprobe: true } },
  ]);
});

Deno.test("tracing config: ebpf_exporter's kaddrs and cgroup_id_map are refused with what to do instead", () => {
  const cases: [string, RegExp][] = [
    [
      "kaddrs:\n  - do_sys_open\n",
      /^bad\.yaml:1:1: kaddrs .* not supported: declare `extern const void SYMBOL __ksym;`/,
    ],
    [
      "cgroup_id_map:\n  name: cgroup_filter\n  type: hash\n  regexps: [^.*$]\n",
      /^bad\.yaml:1:1: cgroup_id_map .* not supported: filter in the BPF program/,
    ],
  ];
  for (const [extra, message] of cases) {
    throws(() => parseTracingConfig("bad.yaml", extra + BASE), (e: unknown) => {
      assert(e instanceof UserError && e.exitCode === 2, String(e));
      assert(message.test(e.message), `${message} in: ${e.message}`);
      return true;
    });
  }
});

Deno.test("tracing config: an ebpf_exporter metrics section is accepted with a warning that names it", () => {
  const metrics = "metrics:\n  counters:\n    - name: a\n    - name: b\n  histograms:\n    - name: h\n";
  const config = parseTracingConfig("mixed.yaml", BASE + metrics);
  assertEquals(config.spans.length, 1);
  assertEquals(config.warnings.length, 1);
  assert(
    /^mixed\.yaml:\d+:1: metrics \(2 counters, 1 histograms\) are not exported: .*run ebpf_exporter/.test(
      config.warnings[0],
    ),
    config.warnings[0],
  );
  assertEquals(parseTracingConfig("plain.yaml", BASE).warnings, [], "no warning without the key");
});
