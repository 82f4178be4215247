/**
 * The BPF build cache: keyed by what clang actually read (its -MD dependency
 * output: a header beside the probe too), the compiler and the flags; kept in
 * the user's cache folder (--cache-dir, XDG), never in the repository.
 * Needs clang and bpftool, not root.
 */
import assert, { deepStrictEqual, match, notStrictEqual, strictEqual } from "node:assert/strict";
import { buildBpfObject, parseDepFile } from "../lib/sources/ringbuf/build.ts";
import { resolveCacheDir } from "../lib/sources/ringbuf/cache_dir.ts";
import { parseAgentConfig } from "../lib/config/agent_config.ts";
import { announceSkip, runSpanprobe } from "./support/ebpf.ts";

function missingTools(): string | undefined {
  for (const tool of ["clang", "bpftool"]) {
    const ok = new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null", stderr: "null" })
      .outputSync().success;
    if (!ok) return `${tool} is not installed`;
  }
  return undefined;
}
const skip = announceSkip("ringbuf_build_cache_test.ts", missingTools());

const SOURCE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "local.h"
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } tiny_spans SEC(".maps");
SEC("tracepoint/sched/sched_process_exec")
int tiny_exec(void *ctx)
{
    unsigned long long *rec = bpf_ringbuf_reserve(&tiny_spans, 8, 0);
    if (!rec)
        return 0;
    *rec = TINY_TAG;
    bpf_ringbuf_submit(rec, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;
const CONFIG =
  "tracing:\n  spans:\n    - ringbuf: tiny_spans\n      labels: [{ name: tag, size: 8, decoders: [{ name: uint }] }]\n";

async function tinyProbe(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-cache-" });
  await Deno.writeTextFile(`${dir}/tiny.bpf.c`, SOURCE);
  await Deno.writeTextFile(`${dir}/local.h`, "#define TINY_TAG 1\n");
  await Deno.writeTextFile(`${dir}/tiny.yaml`, CONFIG);
  return dir;
}

Deno.test("dependency files parse: continuations, escaped spaces, relative paths", () => {
  deepStrictEqual(parseDepFile("o.o: a.c /x/b\\ c.h \\\n  ../d.h\n", "/w/p"), ["/w/p/a.c", "/x/b c.h", "/w/p/../d.h"]);
});

Deno.test("the cache folder: flag > config > SPANPROBE_CACHE_DIR > XDG_CACHE_HOME > HOME > state folder", () => {
  const env = (vars: Record<string, string>) => (k: string) => vars[k];
  strictEqual(resolveCacheDir({ flag: "/f", config: "/c", env: env({ SPANPROBE_CACHE_DIR: "/s" }) }), "/f");
  strictEqual(resolveCacheDir({ config: "/c/", env: env({ SPANPROBE_CACHE_DIR: "/s" }) }), "/c");
  strictEqual(resolveCacheDir({ env: env({ SPANPROBE_CACHE_DIR: "/s", XDG_CACHE_HOME: "/x" }) }), "/s");
  strictEqual(resolveCacheDir({ env: env({ XDG_CACHE_HOME: "/x", HOME: "/h" }) }), "/x/spanprobe");
  strictEqual(resolveCacheDir({ env: env({ HOME: "/h" }) }), "/h/.cache/spanprobe");
  strictEqual(resolveCacheDir({ env: env({}) }), "/var/lib/spanprobe/cache");
});

Deno.test({
  name: "editing a header the probe includes from its own folder rebuilds the object",
  ignore: skip,
  async fn() {
    const dir = await tinyProbe();
    const cache = `${dir}/cache`;
    const first = await buildBpfObject(`${dir}/tiny.bpf.c`, cache);
    const mtime = Deno.statSync(first).mtime;
    strictEqual(await buildBpfObject(`${dir}/tiny.bpf.c`, cache), first, "unchanged: a cache hit");
    deepStrictEqual(Deno.statSync(first).mtime, mtime, "not rebuilt");
    await Deno.writeTextFile(`${dir}/local.h`, "#define TINY_TAG 2\n");
    const second = await buildBpfObject(`${dir}/tiny.bpf.c`, cache);
    notStrictEqual(second, first, "local.h changed: a new object");
    notStrictEqual(Deno.readFileSync(second).join(), Deno.readFileSync(first).join());
    await Deno.writeTextFile(`${dir}/local.h`, "#define TINY_TAG 1\n");
    strictEqual(await buildBpfObject(`${dir}/tiny.bpf.c`, cache), first, "back to the first content: its object");
    const defined = await buildBpfObject(`${dir}/tiny.bpf.c`, cache, { defines: { SPANPROBE_WAKEUP_DIVISOR: "4" } });
    assert(defined !== first && defined !== second, "other flags: another object");
  },
});

Deno.test({
  name: "check puts objects in the user's cache folder (XDG_CACHE_HOME, --cache-dir), not the repository",
  ignore: skip,
  async fn() {
    const dir = await tinyProbe();
    const xdg = await runSpanprobe(["check", "--probe", `${dir}/tiny.yaml`], { env: { XDG_CACHE_HOME: `${dir}/xdg` } });
    strictEqual(xdg.code, 0, xdg.stderr);
    match(xdg.stdout, new RegExp(`object ${dir}/xdg/spanprobe/bpf/tiny-[0-9a-f]{16}\\.bpf\\.o`));
    const flag = await runSpanprobe(["check", "--probe", `${dir}/tiny.yaml`, "--cache-dir", `${dir}/mine`]);
    strictEqual(flag.code, 0, flag.stderr);
    match(flag.stdout, new RegExp(`object ${dir}/mine/bpf/tiny-[0-9a-f]{16}\\.bpf\\.o`));
  },
});

Deno.test("config: ringbuf.cache_dir and the SPANPROBE_WAKEUP_* tunables (ringbuf.wakeup)", () => {
  const cfg = parseAgentConfig(
    "c.yaml",
    "ringbuf:\n  cache_dir: /var/cache/sp\n  wakeup: { interval_ns: 500000, min_gap_ns: 20000, divisor: 4 }\n",
  );
  strictEqual(cfg.ringbufCacheDir, "/var/cache/sp");
  deepStrictEqual(cfg.ringbufDefines, {
    SPANPROBE_WAKEUP_INTERVAL_NS: "500000ULL",
    SPANPROBE_WAKEUP_MIN_GAP_NS: "20000ULL",
    SPANPROBE_WAKEUP_DIVISOR: "4",
  });
  assert.throws(() => parseAgentConfig("c.yaml", "ringbuf:\n  wakeup: { divisor: 0 }\n"), /c\.yaml:2:\d+: .*divisor/);
  assert.throws(() => parseAgentConfig("c.yaml", "ringbuf:\n  wakeup: { every: 1 }\n"), /unknown key "every"/);
  assert.throws(() => parseAgentConfig("c.yaml", "ringbuf:\n  cache_dir: rel\n"), /absolute path/);
});

Deno.test({
  name: "ringbuf.wakeup in the config file reaches the build: another object than the default one",
  ignore: skip,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-wakeup-" });
    const objectOf = (stdout: string) => /^ok {2}exec-trace \(ringbuf\) \S+ object (\S+)$/m.exec(stdout)?.[1];
    const plain = await runSpanprobe(["check", "--probe", "exec-trace", "--cache-dir", dir]);
    strictEqual(plain.code, 0, plain.stderr);
    await Deno.writeTextFile(
      `${dir}/config.yaml`,
      "probes:\n  - probe: exec-trace\nringbuf:\n  wakeup: { divisor: 4 }\n",
    );
    const tuned = await runSpanprobe(["check", "--config", `${dir}/config.yaml`, "--cache-dir", dir]);
    strictEqual(tuned.code, 0, tuned.stderr);
    const a = objectOf(plain.stdout), b = objectOf(tuned.stdout);
    assert(a && b, `${plain.stdout}\n${tuned.stdout}`);
    assert(b.startsWith(`${dir}/bpf/exec-trace-`), `built with the defines, not prebuilt: ${b}`);
    notStrictEqual(a, b);
  },
});
