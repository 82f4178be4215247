/**
 * Issue 10 item 5: spool names cannot collide. A file named above 2^53
 * (`9999999999999999.otlp`) made every new batch land on one name; now a name
 * the spool cannot have written is moved to quarantine/ and counted, a
 * sequence number is never written twice, and the spool's accounting matches
 * what is on disk. Real spool folder, real exporter, real loopback receiver.
 */
import assert, { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { createOtlpHttpSink } from "../lib/export/otlp_http.ts";
import { encodeOtlpTraceProto } from "../lib/export/otlp_proto.ts";
import { encodeSpoolFile, MAX_SPOOL_SEQ, openSpool, parseSpoolHeader, QUARANTINE_DIR } from "../lib/export/spool.ts";
import type { SpanData } from "../lib/core/span_data.ts";
import { createCounters, spanAccount } from "../lib/telemetry/counters.ts";
import { createLogger } from "../lib/telemetry/log.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";

const resource = { attributes: { "service.name": "spool-names-test" } };

function spans(n: number, from = 0): SpanData[] {
  return Array.from({ length: n }, (_, k) => ({
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: (from + k + 1).toString(16).padStart(16, "0"),
    name: "request",
    kind: 2,
    startNs: 1795313354907507123n + BigInt(from + k),
    endNs: 1795313354907607123n + BigInt(from + k),
    attributes: {},
    status: { code: 0 },
    resource,
  }));
}

const batchOf = (s: SpanData[]) => ({
  body: encodeOtlpTraceProto(s, "1"),
  spans: s.length,
  protocol: "http/protobuf" as const,
  gzip: false,
});

/** Spool files on disk and the spans their headers hold. */
function onDisk(dir: string): { files: string[]; spans: number } {
  const files = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort();
  let n = 0;
  for (const f of files) {
    const h = parseSpoolHeader(Deno.readFileSync(`${dir}/${f}`));
    if (h.ok) n += h.spans;
  }
  return { files, spans: n };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 10_000;
  while (!cond()) {
    assert(performance.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const silent = createLogger({ write: () => {} });

Deno.test("a foreign 9999999999999999.otlp is quarantined; 1000 spooled spans are 10 files on disk, all delivered once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-spool-names-" });
  const receiver = await startOtlpReceiver({ behavior: "down" });
  try {
    const foreign = "9999999999999999.otlp";
    await Deno.writeFile(`${dir}/${foreign}`, encodeSpoolFile(batchOf(spans(5, 90_000))));
    const c1 = createCounters();
    const logs: string[] = [];
    const spool1 = await openSpool({ dir, counters: c1, logger: createLogger({ write: (l) => logs.push(l) }) });
    strictEqual(c1.get("spool_foreign_files"), 1);
    strictEqual(spool1.files, 0);
    strictEqual(spool1.nextSeq, 0);
    assert(logs.some((l) => l.includes("did not write") && l.includes(foreign)), logs.join("\n"));
    const a = createOtlpHttpSink({
      endpoint: receiver.url,
      counters: c1,
      logger: silent,
      spool: spool1,
      maxBatchSpans: 100,
      scheduleDelayMs: 10,
      initialBackoffMs: 20,
      maxBackoffMs: 50,
    });
    for (let i = 0; i < 1000; i += 100) a.push(spans(100, i));
    await until(() => spool1.spans === 1000, "1000 spans in the spool");
    await a.shutdown(Date.now());
    const disk = onDisk(dir);
    strictEqual(disk.files.length, 10, disk.files.join(" "));
    strictEqual(spool1.files, disk.files.length, "the spool's count is what is on disk");
    strictEqual(disk.spans, 1000);
    strictEqual(c1.snapshot().gauges.spool_spans, disk.spans);
    strictEqual(c1.dropped(), 0);
    deepStrictEqual([...Deno.readDirSync(`${dir}/${QUARANTINE_DIR}`)].map((e) => e.name), [foreign]);

    await receiver.setBehavior("ok");
    const c2 = createCounters();
    const spool2 = await openSpool({ dir, counters: c2, logger: silent });
    strictEqual(c2.get("spool_spans_recovered"), 1000);
    const b = createOtlpHttpSink({ endpoint: receiver.url, counters: c2, logger: silent, spool: spool2 });
    await b.flush(Date.now() + 10_000);
    await b.shutdown(Date.now() + 1000);
    const got = receiver.spans.map((s) => s.spanId).sort();
    deepStrictEqual(got, spans(1000).map((s) => s.spanId).sort(), "every span once; the foreign file never sent");
    deepStrictEqual(onDisk(dir).files, [], "sent files deleted");
    strictEqual(spanAccount(c2.snapshot()).unaccounted, 0);
  } finally {
    await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sequence number is never written twice, nor beyond MAX_SPOOL_SEQ; the highest valid one is kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-spool-names-" });
  try {
    const top = String(MAX_SPOOL_SEQ).padStart(16, "0");
    await Deno.writeFile(`${dir}/${top}.otlp`, encodeSpoolFile(batchOf(spans(3))));
    const counters = createCounters();
    const spool = await openSpool({ dir, counters, logger: silent, sync: false });
    strictEqual(spool.files, 1, "the highest valid name is the spool's own");
    strictEqual(spool.nextSeq, MAX_SPOOL_SEQ + 1);
    await rejects(spool.write(spool.nextSeq, batchOf(spans(2))), /outside 0\.\./);
    await rejects(spool.write(2 ** 53 + 1, batchOf(spans(2))), /outside 0\.\./);
    strictEqual(await spool.write(7, batchOf(spans(2))), true);
    await rejects(spool.write(7, batchOf(spans(4))), /already exists/);
    await rejects(spool.write(MAX_SPOOL_SEQ, batchOf(spans(4))), /already exists/);
    const disk = onDisk(dir);
    strictEqual(disk.files.length, spool.files);
    strictEqual(disk.spans, spool.spans);
    strictEqual(disk.spans, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("temporary files not named by the spool are left alone, not deleted as its own", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-spool-names-" });
  try {
    await Deno.writeTextFile(`${dir}/someone-elses.tmp`, "x");
    await Deno.writeFile(`${dir}/.0000000000000003.otlp.42.0.tmp`, new Uint8Array(5));
    const counters = createCounters();
    await openSpool({ dir, counters, logger: silent, sync: false });
    strictEqual(counters.get("spool_corrupt_files"), 1, "the spool's own leftover temp file");
    deepStrictEqual(onDisk(dir).files, ["someone-elses.tmp"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
