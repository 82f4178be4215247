// Ring-buffer source lifecycle: load, attach, teardown; and every error path
// gives a clear message and leaves nothing behind (checked with bpftool).
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { openRingbufProbe, type RingbufProbeOptions } from "../lib/sources/ringbuf/mod.ts";
import { UserError } from "../lib/core/errors.ts";
import { createCounters } from "../lib/telemetry/counters.ts";
import { createLogger, type Logger } from "../lib/telemetry/log.ts";
import { buildTarget } from "./support/ebpf.ts";
import { buildProbe, countLinks, countPrograms, ROOT, skipUnlessRoot, tempFile } from "./ringbuf_support.ts";

const skip = skipUnlessRoot("tests/ringbuf_lifecycle_test.ts");
const EXEC_PROGS = ["exectrace_exec", "exectrace_fork", "exectrace_exit"];
const JOINED_PROGS = ["jt_req_start", "jt_req_end", "jt_sys_enter", "jt_sys_exit", "jt_sched_switch"];
const EXEC_YAML = `${ROOT}probes/exec-trace.yaml`;
const JOINED_YAML = `${ROOT}probes/joined-trace.yaml`;

function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(createLogger({ level: "debug", write: (l) => lines.push(l) }), { lines });
}

function options(extra: Partial<RingbufProbeOptions>): RingbufProbeOptions {
  return { configPath: EXEC_YAML, logger: captureLogger(), counters: createCounters(), ...extra };
}

/** Asserts `p` rejects with a UserError of `exitCode` whose message matches every pattern. */
async function rejectsUser(p: Promise<unknown>, exitCode: number, ...patterns: RegExp[]): Promise<string> {
  let message = "";
  await rejects(p, (e: unknown) => {
    assert(e instanceof UserError, `expected a UserError, got ${e}`);
    message = e.message;
    assertEquals(e.exitCode, exitCode, `exit code of: ${e.message}`);
    for (const re of patterns) assert(re.test(e.message), `${re} in: ${e.message}`);
    if (Deno.env.get("RB_SHOW_ERRORS")) console.log(`--- exit ${e.exitCode}: ${e.message}`);
    return true;
  });
  return message;
}

async function assertNothingLeft(progs: string[]): Promise<void> {
  assertEquals(await countLinks(progs), 0, "no links left");
  assertEquals(await countPrograms(progs), 0, "no programs left loaded");
}

Deno.test({ name: "ringbuf: load, attach and tear down", ignore: skip }, async () => {
  await assertNothingLeft(EXEC_PROGS);
  const logger = captureLogger();
  const run = await openRingbufProbe(options({ objectPath: await buildProbe("exec-trace"), logger }));
  try {
    assertEquals(await countLinks(EXEC_PROGS), 3, "three programs attached");
    assertEquals(run.stats().links, 3);
    assertEquals(run.name.startsWith("exec-trace"), true);
    assert(logger.lines.some((l) => l.includes("ring-buffer probe attached")));
  } finally {
    await run.stop();
  }
  await assertNothingLeft(EXEC_PROGS);
  // The stream is closed and stop is idempotent.
  const reader = run.spans.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) { /* drain */ }
  await run.stop();
  await run.done;
});

Deno.test({ name: "ringbuf: builds from source (cached) and stops promptly while idle", ignore: skip }, async () => {
  // Every wait the source has is asked to be a minute long: the poll is capped (MAX_WAIT_MS, 100 ms) and
  // stop must wait at most for that one bounded poll, never for a stats or clock-resync period. A stop
  // taking half a minute would mean it waited for one of those; how fast it stops on a loaded machine
  // is not the question here (no wall-clock tolerance).
  const longMs = 60_000;
  const run = await openRingbufProbe(
    options({
      sourcePath: `${ROOT}probes/exec-trace.bpf.c`,
      cacheDir: `${ROOT}.cache/bpf`,
      pollTimeoutMs: longMs,
      statsIntervalMs: longMs,
      clockResyncMs: longMs,
    }),
  );
  const reading = (async () => {
    const reader = run.spans.getReader();
    while (!(await reader.read()).done) { /* spans */ }
  })();
  // give the reader time to enter its bounded wait (no event says so; stop is correct either way)
  await new Promise((r) => setTimeout(r, 150));
  const t0 = performance.now();
  await run.stop();
  await reading;
  const ms = performance.now() - t0;
  assert(ms < longMs / 2, `stop took ${ms.toFixed(0)} ms: it waited for a long timer`);
  await assertNothingLeft(EXEC_PROGS);
});

Deno.test({ name: "ringbuf: a bad object file is a clear error", ignore: skip }, async () => {
  const garbage = tempFile(new TextEncoder().encode("this is not an ELF file\n".repeat(20)), ".bpf.o");
  await rejectsUser(openRingbufProbe(options({ objectPath: garbage })), 2, /not a usable BPF object/, /clang/);
  await rejectsUser(
    openRingbufProbe(options({ objectPath: "/nonexistent/x.bpf.o" })),
    2,
    /BPF object \/nonexistent\/x\.bpf\.o not found/,
  );
  await rejectsUser(openRingbufProbe(options({ sourcePath: "/nonexistent/x.bpf.c" })), 2, /cannot read BPF source/);
  const broken = tempFile("int broken(void) { return nope; }\n", ".bpf.c");
  await rejectsUser(
    openRingbufProbe(options({ sourcePath: broken, cacheDir: `${ROOT}.cache/bpf` })),
    2, // the probe's own error (clang's file:line): a configuration error
    /compiling .* failed/,
    /nope/,
  );
});

Deno.test({ name: "ringbuf: a missing ring buffer names it, and nothing leaks", ignore: skip }, async () => {
  const yaml = Deno.readTextFileSync(EXEC_YAML).replace("ringbuf: exec_spans", "ringbuf: exec_spanz");
  const config = tempFile(yaml);
  await rejectsUser(
    openRingbufProbe(options({ objectPath: await buildProbe("exec-trace"), configPath: config })),
    2,
    /ring buffer "exec_spanz" not found/,
    /it has: .*exec_spans/,
    new RegExp(`${config}:\\d+:\\d+`),
  );
  await assertNothingLeft(EXEC_PROGS);
});

Deno.test({ name: "ringbuf: labels longer than the record are a clear error", ignore: skip }, async () => {
  const yaml = Deno.readTextFileSync(EXEC_YAML).replace(/size: 128/, "size: 136");
  const config = tempFile(yaml);
  await rejectsUser(
    openRingbufProbe(options({ objectPath: await buildProbe("exec-trace"), configPath: config })),
    2,
    new RegExp(`config ${config}`),
    /add up to 216 bytes/,
    /ring buffer "exec_spans"/,
    /208-byte records/,
  );
  await assertNothingLeft(EXEC_PROGS);
});

Deno.test(
  { name: "ringbuf: labels shorter than the record decode the prefix, warned once", ignore: skip },
  async () => {
    // drop the last label (process.executable.path, 128 bytes): the labels cover the first 80 bytes of 208
    const yaml = Deno.readTextFileSync(EXEC_YAML).replace(/\n {8}- name: process\.executable\.path[\s\S]*$/, "\n");
    const logger = captureLogger();
    const run = await openRingbufProbe(
      options({ objectPath: await buildProbe("exec-trace"), configPath: tempFile(yaml), logger }),
    );
    try {
      const reader = run.spans.getReader();
      // exec-trace sees every exec on the machine: ours is known by its pid
      const child = new Deno.Command("/bin/true").spawn();
      await child.status;
      let mine;
      while (!mine) {
        const { value } = await reader.read();
        mine = value?.find((s) => s.name === "true" && Number(s.attributes["process.pid"]) === child.pid);
      }
      assertEquals(mine.attributes["process.executable.path"], undefined, "not labelled, not decoded");
      assert(Number(mine.attributes["process.pid"]) > 0);
      assertEquals(run.stats().decodeErrors.exec, 0);
      reader.releaseLock();
    } finally {
      await run.stop();
    }
    const warnings = logger.lines.filter((l) => l.includes("the labelled prefix is decoded"));
    assertEquals(warnings.length, 1, logger.lines.join("\n"));
    assert(/are 208 bytes, its labels cover 80: .* last 128 bytes/.test(warnings[0]), warnings[0]);
  },
);

Deno.test(
  { name: "ringbuf: a program without an attach target names it; partial attach is undone", ignore: skip },
  async () => {
    // Without tracing.attach, the SEC("usdt") programs have nowhere to attach.
    // jt_req_start gets a target, jt_req_end not: jt_req_start's link must be undone.
    const yaml = Deno.readTextFileSync(JOINED_YAML).replace(/ {2}attach:\n(?: {4}.*\n)+/, "");
    assert(!yaml.includes("attach:"));
    const config = tempFile(yaml);
    const demo = await buildTarget("rb_demo");
    const logger = captureLogger();
    await rejectsUser(
      openRingbufProbe(options({
        objectPath: await buildProbe("joined-trace"),
        configPath: config,
        logger,
        attach: [{ program: "jt_req_start", usdt: { binary: demo, provider: "rb_demo", name: "request_start" } }],
      })),
      2,
      /program "jt_req_end" \(SEC\("usdt"\)\)/,
      /no attach target/,
      /tracing\.attach/,
    );
    assert(
      logger.lines.some((l) => /attached BPF program .*program=jt_req_start/.test(l)),
      "jt_req_start was attached first",
    );
    await assertNothingLeft(JOINED_PROGS);
  },
);

Deno.test({ name: "ringbuf: a missing attach point names it", ignore: skip }, async () => {
  const demo = await buildTarget("rb_demo");
  const objectPath = await buildProbe("joined-trace");
  await rejectsUser(
    openRingbufProbe(options({
      objectPath,
      configPath: JOINED_YAML,
      attach: [{
        program: "jt_req_start",
        usdt: { binary: "/nonexistent/demo", provider: "rb_demo", name: "request_start" },
      }],
    })),
    1,
    /attaching program "jt_req_start"/,
    /usdt \/nonexistent\/demo:rb_demo:request_start/,
  );
  await rejectsUser(
    openRingbufProbe(options({
      objectPath,
      configPath: JOINED_YAML,
      attach: [{ program: "jt_req_start", usdt: { binary: demo, provider: "rb_demo", name: "no_such_probe" } }],
    })),
    1,
    /rb_demo:no_such_probe/,
  );
  await rejectsUser(
    openRingbufProbe(options({
      objectPath,
      configPath: JOINED_YAML,
      attach: [{ program: "no_such_program", usdt: { binary: demo, provider: "rb_demo", name: "request_start" } }],
    })),
    2,
    /program "no_such_program"/,
  );
  await assertNothingLeft(JOINED_PROGS);
});

Deno.test({ name: "ringbuf: a bad libbpf path is a clear error", ignore: skip }, async () => {
  await rejectsUser(
    openRingbufProbe(options({ objectPath: await buildProbe("exec-trace"), libbpfPath: "/nonexistent/libbpf.so.1" })),
    1,
    /libbpf 1\.x not found/,
    /\/nonexistent\/libbpf\.so\.1/,
  );
});

Deno.test(
  { name: "ringbuf: without CAP_BPF/CAP_PERFMON the error says so (not RLIMIT_MEMLOCK)", ignore: skip },
  async () => {
    const objectPath = await buildProbe("exec-trace");
    const script = tempFile(
      `import { openRingbufProbe } from "${ROOT}lib/sources/ringbuf/mod.ts";
import { createCounters } from "${ROOT}lib/telemetry/counters.ts";
import { createLogger } from "${ROOT}lib/telemetry/log.ts";
try {
  await openRingbufProbe({ objectPath: ${JSON.stringify(objectPath)}, configPath: ${JSON.stringify(EXEC_YAML)},
    logger: createLogger({ level: "debug" }), counters: createCounters() });
  console.log("LOADED");
} catch (e) {
  console.log(JSON.stringify({ exitCode: e.exitCode, message: e.message }));
}
`,
      ".ts",
    );
    const out = await new Deno.Command("setpriv", {
      args: [
        "--bounding-set=-bpf,-perfmon,-sys_admin",
        "--inh-caps=-bpf,-perfmon,-sys_admin",
        Deno.execPath(),
        "run",
        "-A",
        `--config=${ROOT}deno.json`,
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(!stdout.includes("LOADED"), "must not load without privileges");
    const result = JSON.parse(stdout.split("\n").pop()!);
    assertEquals(result.exitCode, 1);
    assert(/CAP_BPF and CAP_PERFMON \(or root\)/.test(result.message), result.message);
    assert(!/MEMLOCK/i.test(result.message + stderr), "no RLIMIT_MEMLOCK hint");
    await assertNothingLeft(EXEC_PROGS);
  },
);

Deno.test({ name: "ringbuf: a tracepoint that does not exist is named", ignore: skip }, async () => {
  const src = tempFile(
    `#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include "spanprobe.bpf.h"
struct rec { struct span_base base; };
SPANPROBE_RINGBUF(rb_missing_tp, struct rec, 4096);
SEC("tracepoint/sched/sched_process_exec")
int rb_ok_tp(void *ctx) { return 0; }
SEC("tracepoint/nosuch/event")
int rb_missing_tp_prog(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`,
    ".bpf.c",
  );
  const config = tempFile(
    `tracing:
  spans:
    - ringbuf: rb_missing_tp
      labels:
        - { name: trace_id, size: 16, decoders: [{ name: hex }] }
        - { name: parent_span_id, size: 8, decoders: [{ name: hex }] }
        - { name: span_id, size: 8, decoders: [{ name: hex }] }
        - { name: span_monotonic_timestamp_ns, size: 8, decoders: [{ name: uint }] }
        - { name: span_duration_ns, size: 8, decoders: [{ name: uint }] }
`,
  );
  await rejectsUser(
    openRingbufProbe(options({ sourcePath: src, configPath: config, cacheDir: `${ROOT}.cache/bpf` })),
    1,
    /program "rb_missing_tp_prog" \(SEC\("tracepoint\/nosuch\/event"\)\)/,
    /not found/,
  );
  await assertNothingLeft(["rb_ok_tp", "rb_missing_tp_prog"]);
});

Deno.test({ name: "ringbuf: maps can be read and updated through the loaded object", ignore: skip }, async () => {
  const run = await openRingbufProbe(options({ objectPath: await buildProbe("exec-trace") }));
  try {
    const map = run.object.map("inherited"); // LRU hash: u32 pid → struct span_parent (24 bytes)
    assertEquals([map.keySize, map.valueSize], [4, 24]);
    const key = new Uint8Array(new Uint32Array([0x7fff_fff0]).buffer);
    const value = new Uint8Array(24).map((_, i) => i + 1);
    map.update(key, value);
    const back = new Uint8Array(24);
    assert(map.lookup(key, back));
    assertEquals([...back], [...value]);
    assert(map.keys().some((k) => k.every((b, i) => b === key[i])), "keys() lists it");
    assert(map.delete(key));
    assert(!map.lookup(key, back), "gone after delete");
    assert(!map.delete(key));
    // The reserve-failure counters are readable (per-CPU array).
    assert(run.object.hasMap("spanprobe_stats"));
    assertEquals(run.stats().reserveFailures, 0);
  } finally {
    await run.stop();
  }
});

Deno.test(
  { name: "ringbuf: without object or source, the program next to the config is used", ignore: skip },
  async () => {
    const run = await openRingbufProbe(options({ configPath: EXEC_YAML }));
    try {
      assertEquals(run.stats().links, 3);
      // the object deno task compile prebuilt from this very source, else one built in the user's cache
      assert(
        run.objectPath === `${ROOT}dist/bpf/exec-trace.bpf.o` ||
          (/\/spanprobe\/bpf\/exec-trace-[0-9a-f]{16}\.bpf\.o$/.test(run.objectPath) &&
            !run.objectPath.startsWith(ROOT)),
        run.objectPath,
      );
    } finally {
      await run.stop();
    }
    const lonely = tempFile(
      "tracing:\n  spans:\n    - ringbuf: x\n      labels: [{ name: a, size: 1, decoders: [{ name: uint }] }]\n",
    );
    await rejectsUser(
      openRingbufProbe(options({ configPath: lonely })),
      2,
      /no BPF program for .*: expected .*\.bpf\.c/,
    );
  },
);

Deno.test({ name: "ringbuf: cancelling the span stream detaches everything", ignore: skip }, async () => {
  const run = await openRingbufProbe(options({ objectPath: await buildProbe("exec-trace") }));
  assertEquals(await countLinks(EXEC_PROGS), 3);
  await run.spans.cancel();
  await run.done;
  await assertNothingLeft(EXEC_PROGS);
  await run.stop(); // still idempotent
});

Deno.test(
  { name: "ringbuf: records shorter than their labels are counted as decode errors per span config", ignore: skip },
  async () => {
    // No SPANPROBE_RINGBUF declaration: the size can only be checked per record.
    const src = tempFile(
      `#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb_odd SEC(".maps");
SEC("tracepoint/sched/sched_process_exec")
int rb_odd_exec(void *ctx)
{
    u64 *rec = bpf_ringbuf_reserve(&rb_odd, 16, 0);
    if (!rec)
        return 0;
    rec[0] = 1;
    rec[1] = 2;
    bpf_ringbuf_submit(rec, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
`,
      ".bpf.c",
    );
    const config = tempFile(
      "tracing:\n  spans:\n    - name: odd\n      ringbuf: rb_odd\n      labels: [{ name: a, size: 24, decoders: [{ name: hex }] }]\n",
    );
    const logger = captureLogger();
    const counters = createCounters();
    const run = await openRingbufProbe({
      sourcePath: src,
      configPath: config,
      logger,
      counters,
      cacheDir: `${ROOT}.cache/bpf`,
    });
    const reading = (async () => {
      for await (const _ of run.spans) { /* none expected */ }
    })();
    try {
      await new Deno.Command("/bin/true").output();
      const deadline = performance.now() + 5000;
      while (run.stats().decodeErrors.odd === 0 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await run.stop();
      await reading;
    }
    assert(run.stats().decodeErrors.odd >= 1, "counted for span config odd");
    assertEquals(counters.get("decode_errors"), run.stats().decodeErrors.odd);
    assert(
      logger.lines.some((l) => /record of 16 bytes in ring buffer \\"rb_odd\\", but span \\"odd\\"/.test(l)),
      logger.lines.join("\n"),
    );
    assert(run.stats().links === 0);
  },
);
