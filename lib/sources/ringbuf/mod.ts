/**
 * The ring-buffer source: load a CO-RE BPF object with libbpf (through
 * FFI), attach its programs, read span records from its
 * BPF_MAP_TYPE_RINGBUF maps by the spans config, and stream finished spans.
 *
 * Records are read from the memory-mapped rings on the JS thread (no call
 * per record); when every ring is empty the source waits for the BPF side's
 * batched wakeups in a bounded nonblocking edge-triggered `epoll_wait`
 * (≤ 100 ms). Reserve failures counted by the BPF side
 * (`spanprobe_stats`) are reported as dropped events.
 * @module
 */
import { checkBpfIncludes, fileInSpecFolder } from "../../config/spec_files.ts";
import { loadTracingConfig, type TracingConfig } from "../../config/tracing_config.ts";
import { type ClockOffsets, createClockOffsets } from "../../core/clock.ts";
import { UserError } from "../../core/errors.ts";
import type { ProbeRun } from "../../core/probe_run.ts";
import type { Attributes, SpanData } from "../../core/span_data.ts";
import { type DecoderEnv } from "../../decoders/mod.ts";
import { type AttachTarget, type BpfObject, loadBpfObject } from "../../ffi/bpf_object.ts";
import { sysPathExists } from "../../ffi/sysfs.ts";
import type { Counters } from "../../telemetry/counters.ts";
import type { Logger } from "../../telemetry/log.ts";
import { buildBpfObject, type BuildOptions } from "./build.ts";
import { bpfCacheDir, resolveCacheDir } from "./cache_dir.ts";
import { embeddedObject } from "./embedded.ts";
import { syncMonotonic } from "../../ffi/mono_clock.ts";
import { createRingWaiter, MAX_WAIT_MS } from "../../ffi/ring_wait.ts";
import { createRingDrainStream } from "../../ffi/ring_drain_stream.ts";
import { openSpanRing, type SpanOutput, type SpanRing } from "./span_ring.ts";
import { openStatsReader, type StatsReader } from "../../ffi/ringbuf_stats.ts";

export { buildBpfObject, type BuildOptions } from "./build.ts";

/** Where objects are built when the caller names no folder: the user's cache (cache_dir.ts). */
function defaultCacheDir(): string {
  return bpfCacheDir(resolveCacheDir({
    env: (k) => {
      try {
        return Deno.env.get(k);
      } catch {
        return undefined; // not permitted: unset
      }
    },
  }));
}

/** The longest wait while records are flowing (ms): bounds the delay of records submitted without a wakeup. */
const ACTIVE_WAIT_MS = 10;
export { loadTracingConfig } from "../../config/tracing_config.ts";

/** Options of {@linkcode openRingbufProbe}. Give `objectPath` or `sourcePath`. */
export interface RingbufProbeOptions {
  /** A compiled `.bpf.o`. */
  objectPath?: string;
  /** A `.bpf.c` to build into `cacheDir` first. Without either, NAME.bpf.o or NAME.bpf.c next to NAME.yaml. */
  sourcePath?: string;
  /** The spans config (YAML). */
  configPath: string;
  /** That config already parsed (it is parsed from `configPath` otherwise). */
  config?: TracingConfig;
  logger: Logger;
  counters: Counters;
  /** Absolute path of libbpf.so.1 (searched in the standard directories otherwise). */
  libbpfPath?: string;
  /** Where built objects and vmlinux.h go (default: `bpf/` of the user's cache folder, see cache_dir.ts). */
  cacheDir?: string;
  build?: BuildOptions;
  /** Attach targets, added to (and overriding by program) the config's `tracing.attach`. */
  attach?: AttachTarget[];
  /** Clock offsets to record the monotonic offset into (shared with other sources). */
  clocks?: ClockOffsets;
  /** `service.name` for span configs without `service` (default: from `resourceAttributes`, else "spanprobe"). */
  serviceName?: string;
  /** Extra resource attributes (e.g. parsed OTEL_RESOURCE_ATTRIBUTES). */
  resourceAttributes?: Attributes;
  /** Where decoders find system facts. */
  decoderEnv?: DecoderEnv;
  /** Most records per batch (default 1024: small batches keep spans from surviving into V8's old generation). */
  batchSize?: number;
  /** Longest wait when idle, ms (default and maximum 100). */
  pollTimeoutMs?: number;
  /** How often reserve failures are read, ms (default 1000). */
  statsIntervalMs?: number;
  /** How often the monotonic clock offset is re-measured, ms (default 10000). */
  clockResyncMs?: number;
}

/** What a ring-buffer probe has done so far. */
export interface RingbufStats {
  /** Records read, per span config. */
  records: Record<string, number>;
  /** Records that failed to decode, per span config (ebpf_exporter counts these per config). */
  decodeErrors: Record<string, number>;
  /** Records a decoder skipped (e.g. `regexp`), per span config. */
  skipped: Record<string, number>;
  /** Records the BPF side could not reserve (ring full): dropped events. */
  reserveFailures: number;
  /** Records the BPF side submitted (when it uses spanprobe.bpf.h). */
  submitted: number;
  /** Live BPF links. */
  links: number;
}

/** A running ring-buffer probe. */
export interface RingbufProbeRun extends ProbeRun {
  readonly objectPath: string;
  /** The loaded object, to read or update its maps (e.g. a target pid). Closed after stop. */
  readonly object: BpfObject;
  readonly config: TracingConfig;
  stats(): RingbufStats;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1).replace(/\.bpf\.(o|c)$|\.(o|c|ya?ml)$/, "");
}

function mergeTargets(fromConfig: AttachTarget[], extra: AttachTarget[] = []): AttachTarget[] {
  const byProgram = new Map(fromConfig.map((t) => [t.program, t]));
  for (const t of extra) byProgram.set(t.program, t);
  return [...byProgram.values()];
}

/** Whether `path` exists: Deno's view first (it sees the compiled binary's embedded files), else libc's. */
function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    return sysPathExists(path);
  }
}

/** A ring-buffer probe's object: a file, or bytes libbpf opens from memory (an embedded prebuilt object). */
export interface ProbeObject {
  objectPath: string;
  sourcePath?: string;
  /** Set for objects libbpf cannot open by path (embedded in the compiled binary). */
  bytes?: Uint8Array<ArrayBuffer>;
}

/**
 * The object of a ring-buffer probe: `objectPath`, else `sourcePath` built
 * into the cache, else NAME.bpf.o (prebuilt, e.g. shipped with an
 * ebpf_exporter config) or NAME.bpf.c beside NAME.yaml — for a bundled probe
 * the object prebuilt from that very source by `deno task compile` when there
 * is one (no clang needed), else built.
 */
export async function resolveProbeObject(
  options: Pick<RingbufProbeOptions, "objectPath" | "sourcePath" | "configPath" | "cacheDir" | "build" | "logger">,
): Promise<ProbeObject> {
  let objectPath = options.objectPath;
  let sourcePath = options.sourcePath;
  if (!objectPath && !sourcePath) {
    // Next to the config: NAME.bpf.o when prebuilt, else NAME.bpf.c to build.
    const base = options.configPath.replace(/\.ya?ml$/, "");
    // beside the config means inside its folder by real path, headers too (no link out of it)
    if (fileExists(`${base}.bpf.o`)) objectPath = fileInSpecFolder(options.configPath, `${base}.bpf.o`, "BPF object");
    else if (fileExists(`${base}.bpf.c`)) {
      sourcePath = fileInSpecFolder(options.configPath, `${base}.bpf.c`, "BPF source");
      checkBpfIncludes(options.configPath, sourcePath);
      if (Object.keys(options.build?.defines ?? {}).length === 0) {
        const embedded = await embeddedObject(sourcePath);
        if (embedded) {
          options.logger.debug("using the prebuilt object", { source: sourcePath, object: embedded.path });
          return { objectPath: embedded.path, sourcePath, bytes: embedded.bytes };
        }
      }
    } else {
      throw new UserError(
        `no BPF program for ${options.configPath}: expected ${base}.bpf.c (or a prebuilt ${base}.bpf.o) next to it`,
        2,
      );
    }
  }
  if (!objectPath) {
    objectPath = await buildBpfObject(sourcePath!, options.cacheDir ?? defaultCacheDir(), options.build);
    options.logger.debug("built BPF object", { source: sourcePath, object: objectPath });
  }
  return { objectPath, sourcePath };
}

/**
 * Loads, checks and attaches a ring-buffer probe; spans flow once it
 * returns. Config problems (missing ring buffer, labels longer than the
 * record) throw a UserError (exit 2) naming the config, the ring buffer and
 * both sizes; nothing is left attached on any error.
 */
export async function openRingbufProbe(options: RingbufProbeOptions): Promise<RingbufProbeRun> {
  const { logger, counters } = options;
  const config = options.config ?? loadTracingConfig(options.configPath);
  for (const w of config.warnings) logger.warn(w, { config: config.path });
  const { objectPath, sourcePath, bytes } = await resolveProbeObject(options);
  const clocks = options.clocks ?? createClockOffsets();
  const batchSize = options.batchSize ?? 1024;
  const pollMs = Math.min(options.pollTimeoutMs ?? MAX_WAIT_MS, MAX_WAIT_MS);
  const statsEvery = options.statsIntervalMs ?? 1000;
  const resyncEvery = options.clockResyncMs ?? 10_000;

  const obj: BpfObject = loadBpfObject(objectPath, { logger, libbpfPath: options.libbpfPath, bytes });
  const rings: SpanRing[] = [];
  let stats: StatsReader | undefined;
  const output: SpanOutput = { spans: [], wallOffset: 0n };

  try {
    for (const sc of config.spans) {
      rings.push(openSpanRing(sc, {
        obj,
        objectPath,
        config,
        output,
        counters,
        logger,
        serviceName: options.serviceName,
        resourceAttributes: options.resourceAttributes,
        decoderEnv: options.decoderEnv,
      }));
    }
    stats = obj.hasMap("spanprobe_stats") ? openStatsReader(obj) : undefined;
    if (!stats) {
      logger.info("BPF object has no spanprobe_stats map: ring-buffer drops cannot be counted", {
        object: objectPath,
      });
    }
    output.wallOffset = syncMonotonic(clocks).offsetNs;
    obj.attachAll(mergeTargets(config.attach, options.attach));
  } catch (e) {
    for (const r of rings) r.reader.close();
    obj.close();
    throw e;
  }

  const waiter = createRingWaiter(rings.map((r) => r.reader.fd));
  let lastStats = performance.now();
  let lastResync = performance.now();

  function readStats(): void {
    if (!stats) return;
    const delta = stats.poll();
    if (delta.reserveFailures > 0) {
      counters.inc("ringbuf_reserve_failures", delta.reserveFailures);
      counters.drop("ringbuf_full", delta.reserveFailures);
      logger.warnLimited("ringbuf-full", "ring buffer full: the BPF side dropped events", {
        object: objectPath,
        dropped: delta.reserveFailures,
      });
    }
  }

  function periodic(): void {
    const now = performance.now();
    if (now - lastStats >= statsEvery) {
      lastStats = now;
      readStats();
      for (const r of rings) counters.gauge(`ringbuf.decode_errors.${r.config.name}`, r.errors);
    }
    if (now - lastResync >= resyncEvery) {
      lastResync = now;
      try {
        output.wallOffset = syncMonotonic(clocks).offsetNs;
      } catch (e) {
        logger.warnLimited("ringbuf-clock", "cannot re-measure the monotonic clock offset", { error: e });
      }
    }
  }

  let lastDrained = 0;
  let lastData = -Infinity;

  /** Read every ring once (up to the batch size); returns the spans built (`lastDrained`: records read). */
  function drainOnce(): SpanData[] {
    let budget = batchSize;
    let total = 0;
    for (const r of rings) {
      if (budget <= 0) break;
      const n = r.reader.drain(r.handler, budget);
      budget -= n;
      total += n;
    }
    if (total) {
      counters.inc("events_in", total);
      lastData = performance.now();
    }
    lastDrained = total;
    const batch = output.spans;
    output.spans = [];
    return batch;
  }

  const { spans, done, stop } = createRingDrainStream({
    label: "ring-buffer source",
    logFields: { object: objectPath },
    logger,
    waiter,
    // Let timers and I/O (the exporter) run now and then while data keeps coming.
    yieldEveryMs: 25,
    periodic,
    drain: drainOnce,
    readAgain: () => lastDrained > 0, // records read but all skipped: keep reading
    // Records submitted without a wakeup wait for the next one; while data is flowing, look
    // again after ACTIVE_WAIT_MS at the latest, so the tail of a burst is not held for 100 ms.
    idleWaitMs: () => performance.now() - lastData < 1000 ? Math.min(ACTIVE_WAIT_MS, pollMs) : pollMs,
    beforeDetach: readStats,
    detach: () => obj.closeAsync(),
    *drainRest() {
      do yield drainOnce(); while (lastDrained > 0);
    },
    closeRings() {
      for (const r of rings) r.reader.close();
    },
  });

  logger.info("ring-buffer probe attached", {
    object: objectPath,
    config: config.path,
    programs: obj.programs.map((p) => p.name),
    ringbufs: rings.map((r) => r.config.ringbuf),
  });

  return {
    name: baseName(sourcePath ?? objectPath),
    objectPath,
    object: obj,
    config,
    spans,
    done,
    stop,
    stats() {
      const per = (f: (r: SpanRing) => number) => Object.fromEntries(rings.map((r) => [r.config.name, f(r)]));
      return {
        records: per((r) => r.records),
        decodeErrors: per((r) => r.errors),
        skipped: per((r) => r.skipped),
        reserveFailures: stats?.totals().reserveFailures ?? 0,
        submitted: stats?.totals().submitted ?? 0,
        links: obj.linkCount(),
      };
    },
  };
}
