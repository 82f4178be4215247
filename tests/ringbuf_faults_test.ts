// Issue 10: the fault and garbage checks, against the ring-buffer source. A
// real BPF program (tests/targets/rb_faults.bpf.c) writes corrupted records
// (random bytes) and overflows a 4 KiB ring; the agent is SIGKILLed and a link
// is detached from outside. Every record is accounted for (a span at the real
// loopback receiver, a decode error or a skip), every overflow is counted
// exactly, no span carries a wrapped-around time, nothing stays loaded.
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { createOtlpHttpSink } from "../lib/export/otlp_http.ts";
import { sinkStream } from "../lib/export/sink.ts";
import { openRingbufProbe, type RingbufProbeRun } from "../lib/sources/ringbuf/mod.ts";
import { type Counters, createCounters, spanAccount } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import { spawnSpanprobe } from "./support/ebpf.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import {
  bpfIdsHeldBy,
  countLinks,
  countPrograms,
  liveLinkIds,
  loadedPrograms,
  ROOT,
  skipUnlessRoot,
} from "./ringbuf_support.ts";

const skip = skipUnlessRoot("tests/ringbuf_faults_test.ts");
const SOURCE = `${ROOT}tests/targets/rb_faults.bpf.c`;
const CONFIG = `${ROOT}tests/targets/rb_faults.yaml`;
const PROGS = ["rbf_exec"];
const U64_MAX = (1n << 64n) - 1n;

/** A copy of /usr/bin/true whose comm is `name` (the BPF side reacts to it on exec). */
function trigger(name: string): string {
  const path = `${ROOT}.cache/${name}`;
  Deno.mkdirSync(`${ROOT}.cache`, { recursive: true });
  Deno.copyFileSync("/usr/bin/true", path);
  Deno.chmodSync(path, 0o755);
  return path;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    assert(performance.now() < end, `timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The fault probe, its spans piped into a real OTLP sink that sends to a real receiver. */
async function start() {
  const receiver = await startOtlpReceiver();
  const counters = createCounters();
  const logs: string[] = [];
  const logger = createLogger({ write: (l) => logs.push(l), level: "debug" });
  const run = await openRingbufProbe({
    sourcePath: SOURCE,
    configPath: CONFIG,
    cacheDir: `${ROOT}.cache/bpf`,
    logger,
    counters,
    statsIntervalMs: 50,
  });
  // react only to the triggers this process starts (parallel runs exec the same comms)
  run.object.map("owner_tgid").update(new Uint8Array(4), new Uint8Array(new Uint32Array([Deno.pid]).buffer));
  const sink = createOtlpHttpSink({ endpoint: receiver.url, counters, logger, scheduleDelayMs: 20 });
  const counted = new TransformStream({
    transform(spans: Parameters<typeof sink.push>[0], c) {
      counters.inc("spans_ended", spans.length);
      c.enqueue(spans);
    },
  });
  const piping = run.spans.pipeThrough(counted).pipeTo(sinkStream(sink));
  return {
    receiver,
    counters,
    logs,
    run,
    async stop(): Promise<void> {
      await run.stop();
      await piping;
      await sink.shutdown(Date.now() + 5000);
      await receiver.close();
    },
  };
}

function invariant(counters: Counters): void {
  const a = spanAccount(counters.snapshot());
  assertEquals(a.unaccounted, 0, JSON.stringify(counters.snapshot()));
}

Deno.test(
  { name: "ringbuf faults: corrupted records are counted, never exported with wrapped times", ignore: skip },
  async () => {
    const bin = trigger("rbf_garbage");
    const t = await start();
    let run: RingbufProbeRun | undefined = t.run;
    try {
      for (let i = 0; i < 4; i++) await new Deno.Command(bin).output();
      await until(() => t.run.stats().records.garbage >= 1024, "1024 garbage records read");
      await t.stop();
      run = undefined;
      const s = t.run.stats();
      assertEquals(s.records.garbage, 1024, "exactly the 4 × 256 records written");
      const received = t.receiver.spans.filter((x) => x.name !== "burst");
      assertEquals(received.length + s.decodeErrors.garbage + s.skipped.garbage, 1024, "every record accounted for");
      assertEquals(t.counters.get("spans_exported"), received.length);
      for (const x of received) {
        assert(x.endNs >= x.startNs, `end ${x.endNs} before start ${x.startNs}: a time wrapped around`);
        assert(x.endNs <= U64_MAX);
      }
      assert(s.decodeErrors.garbage > 0, "random times overflow: some records must be refused");
      assert(t.logs.some((l) => l.includes("cannot decode ring-buffer record") && l.includes("out of range")));
      invariant(t.counters);
    } finally {
      if (run) await t.stop();
    }
    assertEquals(await countPrograms(PROGS), 0);
  },
);

Deno.test({ name: "ringbuf faults: an overflowing ring loses nothing uncounted", ignore: skip }, async () => {
  const bin = trigger("rbf_burst");
  const t = await start();
  let stopped = false;
  try {
    const n = new Uint8Array(new Uint32Array([20_000]).buffer);
    t.run.object.map("burst_count").update(new Uint8Array(4), n);
    await new Deno.Command(bin).output();
    await until(() => t.run.stats().submitted + t.run.stats().reserveFailures >= 20_000, "20 000 reserve attempts");
    await until(() => t.run.stats().records.burst >= t.run.stats().submitted, "every submitted record read");
    await t.stop();
    stopped = true;
    const s = t.run.stats();
    assertEquals(s.submitted + s.reserveFailures, 20_000, "every attempt is a record or a counted failure");
    assert(s.reserveFailures > 10_000, `a 4 KiB ring cannot hold 20 000 records at once (${s.reserveFailures} failed)`);
    assertEquals(s.records.burst, s.submitted);
    assertEquals(t.counters.get("ringbuf_reserve_failures"), s.reserveFailures);
    assertEquals(t.counters.dropped("ringbuf_full"), s.reserveFailures);
    assertEquals(t.receiver.spans.filter((x) => x.name === "burst").length, s.submitted, "every record read arrived");
  } finally {
    if (!stopped) await t.stop();
  }
  assertEquals(await countPrograms(PROGS), 0);
});

Deno.test({
  name: "ringbuf faults: a running program cannot be unloaded from outside; it keeps producing after the attempt",
  ignore: skip,
}, async () => {
  const bin = trigger("rbf_garbage");
  const t = await start();
  let stopped = false;
  try {
    await until(async () => (await countLinks(PROGS)) === 1, "the link is live");
    const json = async (args: string[]) =>
      JSON.parse(
        new TextDecoder().decode(
          (await new Deno.Command("bpftool", { args: ["-j", ...args], stdout: "piped" }).output()).stdout,
        ),
      );
    // this process's own program (parallel runs on the machine load programs of the same name)
    const progs = await loadedPrograms();
    const progId = [...bpfIdsHeldBy(Deno.pid).progIds].find((id) => progs.get(id) === "rbf_exec")!;
    const link = (await json(["link", "show"]) as { id: number; prog_id: number }[]).find((l) => l.prog_id === progId)!;
    // tracepoint and uprobe links are perf-event links: the kernel refuses to detach them from outside
    const detach = await new Deno.Command("bpftool", {
      args: ["link", "detach", "id", String(link.id)],
      stderr: "piped",
    }).output();
    assert(!detach.success, "bpftool detached a perf-event link: the source must now notice lost links");
    assert(/not supported/i.test(new TextDecoder().decode(detach.stderr)));
    await new Deno.Command(bin).output();
    await until(() => t.run.stats().records.garbage >= 256, "records after the attempt");
    assertEquals(t.run.stats().links, 1);
    await t.stop();
    stopped = true;
    invariant(t.counters);
  } finally {
    if (!stopped) await t.stop();
  }
  assertEquals(await countPrograms(PROGS), 0);
});

Deno.test({
  name: "ringbuf faults: SIGKILL of the agent unloads its programs (real CLI, launcher flags)",
  ignore: skip,
}, async () => {
  const args = ["run", "--probe", CONFIG, "--log-format", "json"];
  const child = spawnSpanprobe(args);
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!text.includes('"msg":"running"')) {
      const { value, done } = await reader.read();
      assert(!done, `the agent ended before running:\n${text}`);
      text += value;
    }
    assertEquals(await countPrograms(PROGS, child.pid), 1, "loaded while running");
    assertEquals(await countLinks(PROGS, child.pid), 1, "attached while running");
    // the agent's own programs and links, by id (ids are not reused soon; other runs may load the same names)
    const held = bpfIdsHeldBy(child.pid);
    child.kill("SIGKILL");
    assertEquals((await child.status).signal, "SIGKILL");
    await until(async () => {
      const progs = await loadedPrograms();
      const links = await liveLinkIds();
      return [...held.progIds].every((id) => !progs.has(id)) && [...held.linkIds].every((id) => !links.has(id));
    }, "the killed agent's programs and links unloaded");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await reader.cancel().catch(() => {});
  }
});
