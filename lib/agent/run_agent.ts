/**
 * The agent's lifecycle: start every probe, stream their spans into the sink,
 * log stats periodically, and on SIGINT/SIGTERM (or when every source has
 * ended) stop the sources, end open spans, flush within a deadline and print
 * a summary.
 *
 * Shutdown rule (docs/reliability.md): the flush deadline (`flushTimeoutMs`,
 * 5 s by default) runs from the signal. Sources are stopped first (bpftrace
 * gets SIGTERM, then SIGKILL after its grace period; nothing is left
 * running); spans still open are ended with status ERROR and
 * `spanprobe.incomplete=shutdown` and exported like any other (counted as
 * `spans_evicted`). Then every completed span is exported until the deadline;
 * what is still held then goes to the spool, or is dropped as
 * `export_shutdown`. The exit code is 0 after a signal, 1 when a source
 * failed, and {@linkcode EXIT_EXPORT_FAILED} (3) when spans were dropped
 * because an output failed and that output is still failing at exit
 * (unreachable, refusing, unwritable): a run that delivered nothing never
 * exits 0. The same holds for span metrics (docs/metrics.md) lost to an OTLP
 * metrics endpoint still failing at exit. An output that failed and
 * recovered does not change the code.
 * @module
 */
import { EXIT_EXPORT_FAILED, exportDrops } from "../export/export_health.ts";
import type { SpanSink } from "../export/sink.ts";
import type { SpanMetricsOutput } from "../metrics/span_metrics_output.ts";
import { sinkStream } from "../export/sink.ts";
import type { ProbeRun } from "../core/probe_run.ts";
import type { SpanData } from "../core/span_data.ts";
import { type Counters, spanAccount } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { type MetricsServer, serveMetrics } from "../telemetry/prometheus.ts";
import { catchStopSignals, type StopSignals } from "./stop_signals.ts";

/** Options of {@linkcode runAgent}. */
export interface AgentOptions {
  /** Starts the probes (already validated); resolves once all are attached. `abort` fires on a stop during start-up. */
  start: (abort: AbortSignal) => Promise<ProbeRun[]>;
  sink: SpanSink;
  logger: Logger;
  counters: Counters;
  /** Flush deadline on shutdown, from the signal (default 5000 ms). */
  flushTimeoutMs?: number;
  /** Period of the one-line stats log; 0 disables (default 0). */
  statsIntervalMs?: number;
  /** Serve Prometheus metrics on 127.0.0.1:port (undefined: off). */
  metricsPort?: number;
  /** Span metrics: every span handed to export is recorded here first (docs/metrics.md). */
  spanMetrics?: SpanMetricsOutput;
  /** Span attributes that become metric attributes, by probe name (a spec's `metrics.attributes`). */
  metricAttributes?: Record<string, readonly string[]>;
  /** Called once everything is attached (tests and --ready-file use it). */
  onReady?: () => void;
  /** Stop after this many ms (0 = run until signalled or the sources end). */
  durationMs?: number;
  /** SIGINT/SIGTERM caught since the run began (default: caught from the call on). */
  signals?: StopSignals;
  /** Stop as on SIGTERM when this fires (the launcher died: lib/agent/parent_watch.ts). */
  stop?: AbortSignal;
}

/** A one-line summary of the counters, with the span accounting. */
export function statsLine(counters: Counters): Record<string, number> {
  const s = counters.snapshot();
  const out: Record<string, number> = { ...s.counters, ...s.gauges };
  for (const [reason, n] of Object.entries(s.dropped)) out[`dropped_${reason}`] = n;
  const account = spanAccount(s);
  out.spans_dropped = account.dropped;
  out.spans_unaccounted = account.unaccounted;
  return out;
}

/** Runs until the sources end or a signal arrives; returns the exit code. */
export async function runAgent(o: AgentOptions): Promise<number> {
  const { logger, counters } = o;
  const flushTimeoutMs = o.flushTimeoutMs ?? 5000;
  let metrics: MetricsServer | undefined;
  const spanMetrics = o.spanMetrics;
  // handlers first: a signal during start-up (the spool is already being replayed) stops in order too
  const signals = o.signals ?? catchStopSignals();
  if (o.metricsPort !== undefined) {
    try {
      metrics = await serveMetrics({ port: o.metricsPort, counters, logger, extraText: spanMetrics?.prometheusText });
    } catch (e) {
      signals.dispose();
      throw e;
    }
  }
  let runs: ProbeRun[] = [];
  let startedResolve!: () => void;
  const started = new Promise<void>((r) => startedResolve = r);
  let stopping: Promise<void> | undefined;
  let deadline: number | undefined;
  let signalled = false;
  const startAbort = new AbortController();
  const stopAll = (why: string) => {
    deadline ??= Date.now() + flushTimeoutMs;
    startAbort.abort();
    stopping ??= (async () => {
      logger.info("stopping", { reason: why, flushDeadlineMs: deadline! - Date.now() });
      await started; // a stop during start-up waits for what is being attached, then stops it
      await Promise.all(runs.map((r) => r.stop()));
    })();
    return stopping;
  };
  signals.listen((sig) => {
    if (signalled) {
      logger.warn("already stopping", { signal: sig, flushDeadlineMs: Math.max(0, deadline! - Date.now()) });
      return;
    }
    signalled = true;
    void stopAll(sig);
  });
  const onStop = () => {
    signalled = true;
    void stopAll("launcher gone");
  };
  if (o.stop?.aborted) onStop();
  else o.stop?.addEventListener("abort", onStop, { once: true });
  try {
    if (!signalled) runs = await o.start(startAbort.signal);
  } catch (e) {
    if (!signalled) {
      signals.dispose();
      o.stop?.removeEventListener("abort", onStop);
      await metrics?.close();
      await spanMetrics?.shutdown(Date.now());
      throw e;
    }
    // bpftrace gets a terminal's Ctrl-C too: a start-up cut short by a signal is the stop asked for
    logger.warn("start-up interrupted", { error: (e as Error).message });
  }
  startedResolve();
  const statsTimer = o.statsIntervalMs
    ? setInterval(() => logger.info("stats", statsLine(counters)), o.statsIntervalMs)
    : undefined;
  const durationTimer = o.durationMs ? setTimeout(() => void stopAll("duration elapsed"), o.durationMs) : undefined;
  if (!stopping) {
    o.onReady?.();
    logger.info("running", { probes: runs.map((r) => r.name).join(",") });
  }
  let failed = false;
  await Promise.all(runs.map(async (r) => {
    try {
      // every source's spans are counted here, as they are handed to export
      // (and recorded in the span metrics: once each, whatever export does later)
      const extra = o.metricAttributes?.[r.name];
      const counted = new TransformStream<SpanData[], SpanData[]>({
        transform(spans, c) {
          counters.inc("spans_ended", spans.length);
          spanMetrics?.record(spans, extra);
          c.enqueue(spans);
        },
      });
      await r.spans.pipeThrough(counted).pipeTo(sinkStream(o.sink));
    } catch (e) {
      failed = true;
      logger.error("pipeline failed", { probe: r.name, error: (e as Error).message });
    }
    try {
      await r.done;
    } catch (e) {
      failed = true;
      logger.error("source failed", { probe: r.name, error: (e as Error).message });
    }
  }));
  await stopAll("sources ended");
  clearInterval(statsTimer);
  clearTimeout(durationTimer);
  const flushStart = Date.now();
  await Promise.all([o.sink.shutdown(deadline), spanMetrics?.shutdown(deadline)]);
  signals.dispose();
  o.stop?.removeEventListener("abort", onStop);
  await metrics?.close();
  const summary = statsLine(counters);
  summary.flush_ms = Date.now() - flushStart;
  logger.info("summary", summary);
  if (failed) return 1;
  return exportExitCode(o.sink, counters, logger) || metricsExitCode(spanMetrics, counters, logger);
}

/** {@linkcode EXIT_EXPORT_FAILED} when span metrics were lost to an OTLP endpoint still failing at exit, else 0. */
function metricsExitCode(spanMetrics: SpanMetricsOutput | undefined, counters: Counters, logger: Logger): number {
  const failure = spanMetrics?.failure();
  const lost = counters.get("metrics_exports_failed");
  if (failure === undefined || lost === 0) return 0;
  logger.error("span metrics were lost because the metrics endpoint is failing", {
    output: failure,
    requestsDropped: lost,
    exitCode: EXIT_EXPORT_FAILED,
  });
  return EXIT_EXPORT_FAILED;
}

/** {@linkcode EXIT_EXPORT_FAILED} when spans were lost to an output that is still failing, else 0 (logged). */
function exportExitCode(sink: SpanSink, counters: Counters, logger: Logger): number {
  const failure = sink.failure?.();
  const lost = exportDrops(counters.snapshot());
  if (failure === undefined || lost === 0) return 0;
  logger.error("spans were lost because the output is failing", {
    output: failure,
    spansDropped: lost,
    exitCode: EXIT_EXPORT_FAILED,
  });
  return EXIT_EXPORT_FAILED;
}
