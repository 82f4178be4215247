/**
 * The command line: help, version, exit codes, and error messages that name
 * the file and line — run as a real child process under the production
 * permission set.
 */
import assert, { match, strictEqual } from "node:assert/strict";
import { ROOT, runSpanprobe } from "./support/ebpf.ts";

Deno.test("--help and --version exit 0 and print to stdout", async () => {
  const help = await runSpanprobe(["--help"]);
  strictEqual(help.code, 0);
  match(help.stdout, /spanprobe run/);
  for (const cmd of ["run", "check", "probes"]) {
    const r = await runSpanprobe([cmd, "--help"]);
    strictEqual(r.code, 0, `${cmd} --help: ${r.stderr}`);
    match(r.stdout, /Usage: spanprobe/);
  }
  const v = await runSpanprobe(["--version"]);
  strictEqual(v.code, 0);
  match(v.stdout, /^spanprobe \d+\.\d+\.\d+/);
});

Deno.test("usage errors exit 2 with a message on stderr", async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["run", "--no-such-flag"], /no-such-flag/],
    [["run"], /no probe given/],
    [["run", "--probe", "nope"], /unknown probe "nope" \(bundled: .*usdt-requests/],
    [["run", "--probe", "usdt-requests"], /parameter "binary" is required/],
    [["run", "--probe", "usdt-requests", "--binary", "/bin/sh;id"], /must be an absolute path/],
    [["run", "--probe", "usdt-requests", "--binary", "/no/such/file"], /\/no\/such\/file/],
    [["run", "--probe", "usdt-requests", "--binary", "/usr/bin/true", "--pid", "12x"], /--pid 12x/],
    [["run", "--probe", "usdt-requests", "--binary", "/usr/bin/true", "--param", "nosuch=1"], /no selected probe/],
    [["run", "--probe", "usdt-requests", "--binary", "/usr/bin/true", "--output", "printer"], /--output printer/],
    [["run", "--probe", "usdt-requests", "--binary", "/usr/bin/true", "--protocol", "grpc"], /protocol/],
  ];
  for (const [args, pattern] of cases) {
    const r = await runSpanprobe(args);
    strictEqual(r.code, 2, `${args.join(" ")} → ${r.code}: ${r.stderr}`);
    match(r.stderr, pattern, args.join(" "));
    strictEqual(r.stdout, "", `${args.join(" ")}: nothing on stdout`);
  }
});

Deno.test("check: bundled probes are valid; a broken spec is reported with file and line", async () => {
  const ok = await runSpanprobe(["check"]);
  strictEqual(ok.code, 0, ok.stderr);
  match(ok.stdout, /ok {2}usdt-requests \(bpftrace\)/);
  const dir = await Deno.makeTempDir();
  try {
    const spec = `${dir}/broken.yaml`;
    await Deno.writeTextFile(`${dir}/broken.bt`, "BEGIN { exit(); }\n");
    await Deno.writeTextFile(
      spec,
      [
        "events:",
        "  a:",
        "    pid: int",
        "spans:",
        "  - name: x",
        "    start: { event: a }",
        "    end: { event: b }",
        "    key: [pid]",
      ].join("\n"),
    );
    const r = await runSpanprobe(["check", "--probe", spec], {
      permissions: ["--allow-read=" + [`${ROOT}probes`, dir].join(","), "--allow-env", "--no-prompt"],
    });
    strictEqual(r.code, 2, r.stderr);
    match(r.stderr, new RegExp(`${spec}:7:\\d+: .*unknown event "b"`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("probes lists the bundled probes with their parameters", async () => {
  const r = await runSpanprobe(["probes"]);
  strictEqual(r.code, 0, r.stderr);
  match(r.stdout, /usdt-requests\s+bpftrace/);
  match(r.stdout, /params: binary:path provider\?:identifier/);
  assert(!r.stderr.includes("Error"));
});

Deno.test("check: a ring-buffer config error is reported with file and line, without FFI permission", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const spec = `${dir}/rb.yaml`;
    const good = await Deno.readTextFile(`${ROOT}probes/exec-trace.yaml`);
    // trace_id is 16 bytes in ebpf_exporter's model; make it 15
    const lines = good.split("\n");
    const at = lines.findIndex((l) => /size: 16/.test(l));
    lines[at] = lines[at].replace("size: 16", "size: 15");
    await Deno.writeTextFile(spec, lines.join("\n"));
    const r = await runSpanprobe(["check", "--probe", spec], {
      permissions: ["--no-prompt", "--allow-read=" + [`${ROOT}probes`, dir].join(","), "--allow-env"],
    });
    strictEqual(r.code, 2, r.stderr);
    match(r.stderr, new RegExp(`${spec}:${at + 1}:\\d+: label "trace_id" must be 16 bytes, got 15`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
