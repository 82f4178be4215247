/**
 * The Go source: spans from an unmodified Go program. Inspects the target
 * (lib/sources/go/target.ts), loads probes/go.bpf.c (built by the agent), writes the
 * field offsets into its `go_offsets` map, attaches each traced function's
 * entry program at its entry and its return program at every RET (entry
 * uprobes only), and turns the ring-buffer records into spans.
 * @module
 */
import { type BpfObject, loadBpfObject, possibleCpus } from "../../ffi/bpf_object.ts";
import { sysPathExists } from "../../ffi/sysfs.ts";
import { createClockOffsets } from "../../core/clock.ts";
import { createResourceCache } from "../../spans/resources.ts";
import type { Attributes, SpanData } from "../../core/span_data.ts";
import type { Counters } from "../../telemetry/counters.ts";
import type { Logger } from "../../telemetry/log.ts";
import { UserError } from "../../core/errors.ts";
import type { ProbeRun } from "../../core/probe_run.ts";
import { syncMonotonic } from "../../ffi/mono_clock.ts";
import { openRingReader, type RingReader } from "../../ffi/ring_reader.ts";
import { createRingWaiter, MAX_WAIT_MS } from "../../ffi/ring_wait.ts";
import { createRingDrainStream } from "../../ffi/ring_drain_stream.ts";
import { openStatsReader } from "../../ffi/ringbuf_stats.ts";
import { createGoSpanDecoder, GO_SPAN_SIZE } from "./go_spans.ts";
import { type GoSpec, loadGoSpec } from "../../config/go_spec.ts";
import { encodeOffsets } from "./offsets.ts";
import { type GoTarget, inspectGoTarget } from "./target.ts";

export { inspectGoTarget } from "./target.ts";

/** Options of {@linkcode openGoProbe}: give `pid` or `exe`. */
export interface GoProbeOptions {
  /** probes/go.yaml (or another Go probe spec). */
  specPath: string;
  /**
   * Finds or builds the object of probes/go.bpf.c (its path; its bytes when
   * libbpf must open it from memory); called once the target checked out
   * (the agent provides objects: a source does not build them).
   */
  buildObject: () => Promise<{ objectPath: string; bytes?: Uint8Array<ArrayBuffer> }>;
  spec?: GoSpec;
  /**
   * Also attach the spec's `context` functions (runtime.newproc1): goroutines created while a
   * request is served inherit its context. Off by default: two more uprobe hits per goroutine.
   */
  followGoroutines?: boolean;
  /** Trace this process. */
  pid?: number;
  /** Trace every process running this executable (absolute path). */
  exe?: string;
  logger: Logger;
  counters: Counters;
  libbpfPath?: string;
  serviceName?: string;
  resourceAttributes?: Attributes;
  /** Most records per batch (default 1024). */
  batchSize?: number;
}

/** What the Go probe has done so far. */
export interface GoProbeStats {
  records: number;
  decodeErrors: number;
  reserveFailures: number;
  /** Live uprobe links. */
  links: number;
}

/** A running Go probe. */
export interface GoProbeRun extends ProbeRun {
  readonly target: GoTarget;
  stats(): GoProbeStats;
}

/**
 * Inspects, loads and attaches; spans flow once it returns. Target problems
 * (not Go, stripped, nothing to trace) throw a UserError before anything is
 * loaded; nothing stays attached on any error.
 */
export async function openGoProbe(o: GoProbeOptions): Promise<GoProbeRun> {
  const { logger, counters } = o;
  if ((o.pid === undefined) === (o.exe === undefined)) {
    throw new UserError("--probe go needs exactly one of --pid PID or --exe PATH", 2);
  }
  if (o.exe !== undefined && !o.exe.startsWith("/")) {
    throw new UserError(`--exe ${o.exe}: give an absolute path`, 2);
  }
  const spec = o.spec ?? loadGoSpec(o.specPath);
  const functions = spec.functions.filter((f) => o.followGoroutines || !f.context);
  const target = await inspectGoTarget({ pid: o.pid, exe: o.exe }, functions);
  logger.info("Go target inspected", {
    target: target.displayPath,
    go: target.version.text,
    offsets: target.offsets.source,
    headers: target.offsets.headersReadable,
    functions: target.functions.map((f) => `${f.spec.symbol} (${f.returns.length} RET)`),
    missing: target.missing,
    db_system: target.dbSystem,
  });
  const { objectPath, bytes } = await o.buildObject();
  const obj: BpfObject = loadBpfObject(objectPath, { logger, libbpfPath: o.libbpfPath, bytes });
  let reader: RingReader | undefined;
  try {
    const declared = obj.btfVarSize(`spanprobe_record__${spec.ringbuf}`);
    if (declared !== GO_SPAN_SIZE) {
      throw new UserError(
        `${objectPath}: ring buffer ${spec.ringbuf} carries ${declared}-byte records; this agent reads ${GO_SPAN_SIZE}`,
        2,
      );
    }
    const offsetsMap = obj.map("go_offsets");
    const offsets = encodeOffsets(target.offsets);
    if (offsetsMap.valueSize !== offsets.length) {
      throw new UserError(
        `${objectPath}: map go_offsets holds ${offsetsMap.valueSize} bytes; this agent writes ${offsets.length} ` +
          "(struct go_offsets of probes/go.bpf.c and OFFSET_SLOTS of lib/sources/go/offsets.ts must match)",
        2,
      );
    }
    offsetsMap.update(new Uint8Array(4), offsets);
    reader = openRingReader(obj.map(spec.ringbuf));
    for (const f of target.functions) {
      obj.attachUprobeAt(f.spec.entry, target.attachPath, f.entry, target.pid);
      for (const r of f.returns) obj.attachUprobeAt(f.spec.ret, target.attachPath, r, target.pid);
    }
  } catch (e) {
    reader?.close();
    obj.close();
    throw e;
  }
  const ring = reader;
  const stats = openStatsReader(obj);
  const clocks = createClockOffsets();
  let wallOffset = syncMonotonic(clocks).offsetNs;
  const resources = createResourceCache({ serviceName: o.serviceName, extra: o.resourceAttributes });
  const hints = { executableName: target.executableName, executablePath: o.exe };
  const decoder = createGoSpanDecoder((pid) => resources.forPid(pid, hints), target.dbSystem);
  const batchSize = o.batchSize ?? 1024;
  let records = 0;
  let decodeErrors = 0;
  let out: SpanData[] = [];
  const onRecord = (data: Uint8Array, off: number, len: number) => {
    records++;
    try {
      out.push(decoder.decode(data, off, len, wallOffset));
    } catch (e) {
      decodeErrors++;
      counters.inc("decode_errors");
      logger.warnLimited("go-decode", "cannot decode a Go probe record", { error: (e as Error).message });
    }
  };

  const waiter = createRingWaiter([ring.fd]);
  let lastPeriodic = performance.now();
  let lastResync = performance.now();

  function readStats(): void {
    const d = stats.poll();
    if (d.reserveFailures > 0) {
      counters.inc("ringbuf_reserve_failures", d.reserveFailures);
      counters.drop("ringbuf_full", d.reserveFailures);
      logger.warnLimited("go-ringbuf-full", "Go probe ring buffer full: the BPF side dropped spans", {
        dropped: d.reserveFailures,
      });
    }
  }

  function drain(): SpanData[] {
    const n = ring.drain(onRecord, batchSize);
    if (n) counters.inc("events_in", n);
    const batch = out;
    out = [];
    return batch;
  }

  /** The BPF side's go_counts, summed over CPUs: [entries run again, returns without an entry]. */
  function probeCounts(): [number, number] {
    const map = obj.map("go_counts");
    const cpus = possibleCpus(obj.libbpf);
    const value = new Uint8Array(8 * cpus);
    const dv = new DataView(value.buffer);
    return [0, 1].map((i) => {
      if (!map.lookup(Uint8Array.of(i, 0, 0, 0), value)) return 0;
      let sum = 0;
      for (let c = 0; c < cpus; c++) sum += Number(dv.getBigUint64(c * 8, true));
      return sum;
    }) as [number, number];
  }

  const { spans, done, stop } = createRingDrainStream({
    label: "Go source",
    logger,
    waiter,
    periodic() {
      const now = performance.now();
      if (now - lastPeriodic >= 1000) {
        lastPeriodic = now;
        readStats();
        if (target.pid !== undefined && !sysPathExists(`/proc/${target.pid}`)) {
          logger.info("traced Go process exited", { pid: target.pid });
          return true;
        }
      }
      if (now - lastResync >= 10_000) {
        lastResync = now;
        wallOffset = syncMonotonic(clocks).offsetNs;
      }
    },
    drain,
    idleWaitMs: () => Math.min(10, MAX_WAIT_MS),
    beforeDetach() {
      readStats();
      const [reentered, orphanReturns] = probeCounts();
      // calls that entered but did not return yet never become spans: counted, not lost silently
      const inFlight = obj.map("go_calls").keys().length;
      counters.gauge("go.calls_in_flight_at_stop", inFlight);
      logger.info("Go probe detaching", {
        records,
        calls_in_flight: inFlight,
        reentered_entries: reentered,
        returns_without_entry: orphanReturns,
      });
    },
    detach: () => obj.closeAsync(),
    *drainRest() {
      for (let batch = drain(); batch.length; batch = drain()) yield batch;
    },
    closeRings: () => ring.close(),
  });

  logger.info("Go probe attached", { target: target.displayPath, links: obj.linkCount() });

  return {
    name: "go",
    target,
    spans,
    done,
    stop,
    stats: () => ({
      records,
      decodeErrors,
      reserveFailures: stats.totals().reserveFailures,
      links: obj.linkCount(),
    }),
  };
}
