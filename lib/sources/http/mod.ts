/**
 * The zero-code HTTP source: probes/http.bpf.c reports the socket system
 * calls of selected processes with their first bytes; this source turns
 * them into one SERVER span per HTTP/1.x request a process serves and one
 * CLIENT span per request it sends, linked across processes on this host
 * (see exchanges.ts for the rules, docs/zero-code-http.md for the user's
 * view).
 *
 * Built on the ring-buffer machinery in lib/ffi (memory-mapped ring
 * reading, bounded epoll waits, reserve-failure stats); records are events,
 * not spans. The agent builds probes/http.bpf.c and hands over the object.
 *
 * Spans are handed out `linkGraceMs` after their exchange ended, so that a
 * link found late (the other end's event arriving after this one's) still
 * lands in the right trace.
 * @module
 */
import { errnoName } from "../../ffi/errno_names.ts";
import { type BpfMap, type BpfObject, loadBpfObject } from "../../ffi/bpf_object.ts";
import { possibleCpus } from "../../ffi/bpf_object.ts";
import { type ClockOffsets, createClockOffsets } from "../../core/clock.ts";
import type { Attributes, SpanData } from "../../core/span_data.ts";
import type { Counters } from "../../telemetry/counters.ts";
import type { Logger } from "../../telemetry/log.ts";
import { UserError } from "../../core/errors.ts";
import { sysPathExists } from "../../ffi/sysfs.ts";
import type { ProbeRun } from "../../core/probe_run.ts";
import { monotonicNowNs, syncMonotonic } from "../../ffi/mono_clock.ts";
import { openRingReader, type RingReader } from "../../ffi/ring_reader.ts";
import { createRingWaiter, MAX_WAIT_MS } from "../../ffi/ring_wait.ts";
import { createRingDrainStream } from "../../ffi/ring_drain_stream.ts";
import { openStatsReader, type StatsReader } from "../../ffi/ringbuf_stats.ts";
import { addressesOf, blankEvent, decodeEvent, EventKind } from "./events.ts";
import { createExchangeTracker, type Exchange, type TrackerStats } from "./exchanges.ts";
import { isGoProcess } from "./go_binary.ts";
import { exePathOf, pidsListeningOn, pidsWithExe } from "./listeners.ts";
import { createProcessResources } from "./process_resource.ts";
import { createRouteNormaliser } from "./route.ts";
import { exeGlob, type HttpSelectors } from "./selectors.ts";
import { spanOfExchange } from "./span_shape.ts";

/** Most bytes captured per call (HTTP_MAX_CAPTURE in probes/http.bpf.c). */
export const MAX_CAPTURE_BYTES = 4096;
/** The longest wait while events are flowing (ms). */
const ACTIVE_WAIT_MS = 10;
/** Bytes captured per call by default. */
export const DEFAULT_CAPTURE_BYTES = 1024;

/** Options of {@linkcode openHttpProbe}. */
export interface HttpProbeOptions {
  selectors: HttpSelectors;
  logger: Logger;
  counters: Counters;
  /** The compiled probes/http.bpf.c. */
  objectPath: string;
  /** Its bytes, when libbpf cannot open `objectPath` itself (embedded in the compiled binary). */
  objectBytes?: Uint8Array<ArrayBuffer>;
  libbpfPath?: string;
  /** Bytes of each read/write captured (default 1024, at most 4096). */
  captureBytes?: number;
  /** Route templates tried before the identifier heuristics. */
  routes?: string[];
  /** Add `url.query` (default false). */
  urlQuery?: boolean;
  /** Add `process.command_line` (default false). */
  commandLine?: boolean;
  /** Extra resource attributes (the agent's OTEL_RESOURCE_ATTRIBUTES). */
  resourceAttributes?: Attributes;
  /** How long an ended exchange waits for late links (default 100 ms). */
  linkGraceMs?: number;
  clocks?: ClockOffsets;
  /** Most records per batch (default 1024). */
  batchSize?: number;
}

/** What the http probe has done so far. */
export interface HttpProbeStats extends TrackerStats {
  events: number;
  decodeErrors: number;
  spans: number;
  reserveFailures: number;
  /** Kernel-side counters: processes that did not fit the pid table, calls that did not fit the call table. */
  kernelPidsFull: number;
  kernelCallsFull: number;
}

/** A running http probe. */
export interface HttpProbeRun extends ProbeRun {
  readonly object: BpfObject;
  stats(): HttpProbeStats;
}

function u32(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function u16(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n, true);
  return b;
}

function readKernelCounters(map: BpfMap, cpus: number): number[] {
  const stride = 8;
  const value = new Uint8Array(stride * cpus);
  const view = new DataView(value.buffer);
  const out: number[] = [];
  for (let k = 0; k < 2; k++) {
    let sum = 0;
    if (map.lookup(u32(k), value)) {
      for (let c = 0; c < cpus; c++) sum += Number(view.getBigUint64(c * stride, true));
    }
    out.push(sum);
  }
  return out;
}

/**
 * Builds (or finds) and loads probes/http.bpf.c, fills its selection maps,
 * attaches it and streams spans. Throws a UserError (nothing left attached)
 * when the selection is empty or names a pid no process has, the capture size is out of range, or loading
 * or attaching fails.
 */
export function openHttpProbe(o: HttpProbeOptions): HttpProbeRun {
  const { logger, counters } = o;
  const sel = o.selectors;
  if (sel.ports.length === 0 && sel.pids.length === 0 && !sel.exe?.length) {
    throw new UserError(
      "the http probe needs a selection: --open-port PORTS (or OTEL_EBPF_OPEN_PORT), --pid PID or --exe GLOB",
      2,
    );
  }
  for (const pid of sel.pids) {
    if (!sysPathExists(`/proc/${pid}`)) {
      throw new UserError(`no process with pid ${pid} (--pid): it does not exist or has exited`, 2);
    }
  }
  const exeGlobs = (sel.exe ?? []).map((g) => exeGlob(g));
  const captureBytes = o.captureBytes ?? DEFAULT_CAPTURE_BYTES;
  if (!Number.isInteger(captureBytes) || captureBytes < 64 || captureBytes > MAX_CAPTURE_BYTES) {
    throw new UserError(`capture_bytes ${captureBytes}: expected an integer from 64 to ${MAX_CAPTURE_BYTES}`, 2);
  }
  const routes = createRouteNormaliser(o.routes ?? []);
  const graceNs = BigInt(Math.round((o.linkGraceMs ?? 100) * 1e6));
  const batchSize = o.batchSize ?? 1024;
  const objectPath = o.objectPath;

  const clocks = o.clocks ?? createClockOffsets();
  const obj = loadBpfObject(objectPath, { logger, libbpfPath: o.libbpfPath, bytes: o.objectBytes });
  let reader: RingReader | undefined;
  let pidMap: BpfMap | undefined;
  let statsReader: StatsReader;
  let kernelCounters: BpfMap;
  let cpus: number;
  let wallOffset: bigint;
  try {
    // struct http_config { capture_bytes; flags } (flags bit 0: report execs, for --exe)
    obj.map("http_config").update(u32(0), new Uint8Array([...u32(captureBytes), ...u32(exeGlobs.length ? 1 : 0)]));
    const ports = obj.map("http_ports");
    for (const p of sel.ports) ports.update(u16(p), new Uint8Array([1]));
    const pids = obj.map("http_pids");
    const listening = pidsListeningOn(sel.ports);
    const byExe = pidsWithExe(exeGlobs);
    for (const p of new Set([...sel.pids, ...listening, ...byExe])) pids.update(u32(p), new Uint8Array([1]));
    if (listening.length) logger.info("already listening on selected ports", { pids: listening.join(",") });
    if (byExe.length) logger.info("running executables selected", { pids: byExe.join(",") });
    pidMap = pids;
    reader = openRingReader(obj.map("http_events"));
    statsReader = openStatsReader(obj);
    kernelCounters = obj.map("http_counters");
    cpus = possibleCpus(obj.libbpf);
    wallOffset = syncMonotonic(clocks).offsetNs;
    obj.attachAll();
  } catch (e) {
    reader?.close();
    obj.close();
    throw e;
  }
  const ring = reader;

  const resources = createProcessResources({ extra: o.resourceAttributes, commandLine: o.commandLine });
  const ended: Exchange[] = [];
  let out: SpanData[] = [];
  let events = 0;
  let decodeErrors = 0;
  let spans = 0;
  let currentBuf: Uint8Array = new Uint8Array(0);
  const ev = blankEvent();
  /** Whether a process runs Go (read once per process, from its executable's sections). */
  const goPids = new Map<number, boolean>();
  const tracker = createExchangeTracker({
    captureBytes,
    onEnded: (ex) => ended.push(ex),
    addresses: (e) => {
      // the first event of a process also reads its resource, while it surely still runs
      resources.forPid(e.pid);
      return addressesOf(currentBuf, e);
    },
    errnoName: (n) => errnoName(n) ?? `errno ${n}`,
    threadFollowsRequest: (pid) => {
      let go = goPids.get(pid);
      if (go === undefined) {
        go = isGoProcess(pid);
        if (goPids.size >= 4096) goPids.clear();
        goPids.set(pid, go);
      }
      return !go;
    },
  });

  let execSelected = 0;
  /** An exec reported for --exe: select the process when its executable matches. */
  function onExec(pid: number): void {
    const exe = exePathOf(pid);
    if (exe === undefined || !exeGlobs.some((g) => g.test(exe))) return;
    try {
      pidMap!.update(u32(pid), new Uint8Array([1]));
      execSelected++;
      logger.debug("executable selected", { pid, exe });
    } catch (e) {
      logger.warnLimited("http-pids-full", "cannot select a process (pid table full?)", { pid, error: e });
    }
  }

  function onRecord(data: Uint8Array, off: number, len: number): void {
    events++;
    try {
      currentBuf = data;
      decodeEvent(data, off, len, ev);
      if (ev.kind === EventKind.EXEC) return onExec(ev.pid);
      tracker.handle(ev);
    } catch (e) {
      decodeErrors++;
      counters.inc("decode_errors");
      logger.warnLimited("http-decode", "cannot decode http event", { error: (e as Error).message });
    }
  }

  /** Turn exchanges that ended at least the grace period ago (all when `all`) into spans. */
  /** Index of the oldest ended exchange not yet turned into a span (`ended` is a FIFO by processing order). */
  let head = 0;
  function emitReady(all: boolean): void {
    if (head >= ended.length) return;
    const deadline = monotonicNowNs() - graceNs;
    while (head < ended.length) {
      const ex = ended[head];
      // in processing order: stop at the first one still in its grace period
      if (!all && ex.endNs > deadline) break;
      head++;
      out.push(spanOfExchange(ex, {
        routes,
        urlQuery: o.urlQuery ?? false,
        wallOffsetNs: wallOffset,
        resource: resources.forPid(ex.pid),
      }));
      spans++;
      tracker.release(ex);
    }
    if (head === ended.length) {
      ended.length = 0;
      head = 0;
    } else if (head >= 4096) {
      ended.splice(0, head);
      head = 0;
    }
  }

  let reserveFailures = 0;
  let kernel = [0, 0];
  function publishStats(): void {
    publishKernelStats();
    publishTrackerStats();
  }

  /** Reads the BPF side's counters (only while the object is open). */
  function publishKernelStats(): void {
    const d = statsReader.poll();
    if (d.reserveFailures > 0) {
      reserveFailures += d.reserveFailures;
      counters.inc("ringbuf_reserve_failures", d.reserveFailures);
      counters.drop("ringbuf_full", d.reserveFailures);
      logger.warnLimited("http-ringbuf-full", "http event ring buffer full: events dropped", {
        dropped: d.reserveFailures,
      });
    }
    kernel = readKernelCounters(kernelCounters, cpus);
    counters.gauge("http.kernel_pids_full", kernel[0]);
    counters.gauge("http.kernel_calls_full", kernel[1]);
  }

  function publishTrackerStats(): void {
    const s = tracker.stats();
    counters.gauge("http.connections", s.connections);
    counters.gauge("http.open_exchanges", s.openExchanges);
    for (const [reason, n] of Object.entries(s.unparsed)) counters.gauge(`http.unparsed.${reason}`, n);
    counters.gauge("http.connect_failed", s.connectFailed);
    counters.gauge("http.evicted_connections", s.evictedConnections);
    counters.gauge("http.ambiguous_thread_context", s.ambiguousThreadContext);
    counters.gauge("http.thread_context_off", s.threadContextOff);
    if (exeGlobs.length) counters.gauge("http.exec_selected", execSelected);
  }

  const waiter = createRingWaiter([ring.fd]);
  let lastData = -Infinity;
  let lastPeriodic = performance.now();
  let lastResync = performance.now();
  let lastDrained = 0;

  function drainOnce(): number {
    const n = ring.drain(onRecord, batchSize);
    if (n) counters.inc("events_in", n);
    return n;
  }

  function take(): SpanData[] {
    const batch = out;
    out = [];
    return batch;
  }

  const { spans: stream, done, stop } = createRingDrainStream({
    label: "http source",
    logger,
    waiter,
    yieldEveryMs: 25,
    periodic() {
      const nowMs = performance.now();
      if (nowMs - lastPeriodic >= 1000) {
        lastPeriodic = nowMs;
        tracker.sweep(monotonicNowNs());
        publishStats();
      }
      if (nowMs - lastResync >= 10_000) {
        lastResync = nowMs;
        wallOffset = syncMonotonic(clocks).offsetNs;
      }
    },
    drain() {
      lastDrained = drainOnce();
      emitReady(false);
      return take();
    },
    readAgain() {
      if (lastDrained === 0) return false;
      lastData = performance.now();
      return true;
    },
    // The BPF side wakes us only when the ring is 1/8 full: while events flow, look every
    // ACTIVE_WAIT_MS; and never sleep past the oldest ended exchange's grace period.
    idleWaitMs() {
      const graceLeftMs = head < ended.length
        ? Math.max(1, Number(ended[head].endNs + graceNs - monotonicNowNs()) / 1e6)
        : MAX_WAIT_MS;
      const activeMs = performance.now() - lastData < 1000 ? ACTIVE_WAIT_MS : MAX_WAIT_MS;
      return Math.min(activeMs, graceLeftMs);
    },
    beforeDetach: publishKernelStats, // the maps go with the object
    detach: () => obj.closeAsync(), // nothing new arrives; the ring stays mapped
    *drainRest() {
      while (drainOnce() > 0) { /* what is still in the ring */ }
      tracker.endAll();
      publishTrackerStats();
      emitReady(true);
      yield take();
    },
    closeRings: () => ring.close(),
  });

  logger.info("http probe attached", {
    object: objectPath,
    ports: sel.ports.join(",") || undefined,
    pids: sel.pids.join(",") || undefined,
    exe: sel.exe?.join(",") || undefined,
    captureBytes,
  });

  return {
    name: "http",
    object: obj,
    spans: stream,
    done,
    stop,
    stats() {
      return {
        ...tracker.stats(),
        events,
        decodeErrors,
        spans,
        reserveFailures,
        kernelPidsFull: kernel[0],
        kernelCallsFull: kernel[1],
      };
    },
  };
}
