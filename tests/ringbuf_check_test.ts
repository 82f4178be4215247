/**
 * `spanprobe check` on ring-buffer probes, through the CLI under exactly the
 * launcher's permission set: it compiles the program (clang's file:line on a
 * compile error, exit 2) and opens the object without loading it, so a
 * missing ring buffer and labels that do not fit the record fail in check
 * with run's messages; records longer than their labels pass with a warning.
 * Opening needs no privilege: these run as any user with clang and bpftool.
 */
import assert, { match, strictEqual } from "node:assert/strict";
import { announceSkip, ROOT, runSpanprobe } from "./support/ebpf.ts";

function missingTools(): string | undefined {
  for (const tool of ["clang", "bpftool"]) {
    const ok = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null", stderr: "null" })
      .outputSync().success;
    if (!ok) return `${tool} is not installed`;
  }
  try {
    Deno.statSync("/sys/kernel/btf/vmlinux");
  } catch {
    return "no kernel BTF";
  }
  return undefined;
}
const skip = announceSkip("ringbuf_check_test.ts", missingTools());

const SOURCE = Deno.readTextFileSync(`${ROOT}probes/exec-trace.bpf.c`);
const CONFIG = Deno.readTextFileSync(`${ROOT}probes/exec-trace.yaml`);

/** A probe NAME.{bpf.c,yaml} in a fresh folder; returns the .yaml path. */
async function probe(source: string, config: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-check-" });
  await Deno.writeTextFile(`${dir}/mine.bpf.c`, source);
  await Deno.writeTextFile(`${dir}/mine.yaml`, config);
  return `${dir}/mine.yaml`;
}

function lineOf(text: string, pattern: RegExp): number {
  return text.split("\n").findIndex((l) => pattern.test(l)) + 1;
}

Deno.test({
  name: "check builds and opens the bundled ring-buffer probes",
  ignore: skip,
  async fn() {
    const r = await runSpanprobe(["check"]);
    strictEqual(r.code, 0, r.stderr);
    match(r.stdout, /^ok {2}exec-trace \(ringbuf\) \S+exec-trace\.yaml object \S+\.bpf\.o$/m);
    match(r.stdout, /^ok {2}joined-trace \(ringbuf\) .* object /m);
  },
});

Deno.test({
  name: "check: a compile error exits 2 with clang's file:line",
  ignore: skip,
  async fn() {
    const broken = SOURCE.replace("return 0;", "return 0 +;");
    const spec = await probe(broken, CONFIG);
    const r = await runSpanprobe(["check", "--probe", spec]);
    strictEqual(r.code, 2, r.stderr);
    const line = lineOf(broken, /return 0 \+;/);
    match(r.stderr, new RegExp(`mine\\.bpf\\.c:${line}:\\d+: error: expected expression`));
    assert(!/\n\s+at /.test(r.stderr), "no stack trace");
  },
});

Deno.test({
  name: "check: a ring buffer the object does not have is named with the config's file:line",
  ignore: skip,
  async fn() {
    const config = CONFIG.replace("ringbuf: exec_spans", "ringbuf: exec_spanz");
    const spec = await probe(SOURCE, config);
    const r = await runSpanprobe(["check", "--probe", spec]);
    strictEqual(r.code, 2, r.stderr);
    match(
      r.stderr,
      new RegExp(`${spec}:${lineOf(config, /- name: exec$/)}:\\d+: span "exec": .*ring buffer "exec_spanz"`),
    );
    match(r.stderr, /exec_spans/, "names the ring buffers it has");
  },
});

Deno.test({
  name: "check: labels longer than the record exit 2; shorter ones pass with a warning",
  ignore: skip,
  async fn() {
    const long = await probe(SOURCE, CONFIG.replace("size: 128", "size: 136"));
    const r = await runSpanprobe(["check", "--probe", long]);
    strictEqual(r.code, 2, r.stderr);
    match(r.stderr, /labels of config .* add up to 216 bytes .* carries 208-byte records/);
    const short = await probe(SOURCE, CONFIG.replace("size: 128", "size: 120"));
    const ok = await runSpanprobe(["check", "--probe", short]);
    strictEqual(ok.code, 0, ok.stderr);
    match(ok.stdout, /warning: .*records in ring buffer "exec_spans" are 208 bytes, its labels cover 200/);
  },
});
