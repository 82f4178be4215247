/**
 * The agent's lifecycle: start every probe, stream their spans into the sink,
 * log stats periodically, and on SIGINT/SIGTERM (or when every source has
 * ended) stop the sources, end open spans, flush within a deadline and print
 * a summary.
 * @module
 */
import type { SpanSink } from "../export/sink.ts";
import { sinkStream } from "../export/sink.ts";
import type { ProbeRun } from "../sources/probe_run.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";

/** Options of {@linkcode runAgent}. */
export interface AgentOptions {
  /** Starts the probes (already validated); resolves once all are attached. */
  start: () => Promise<ProbeRun[]>;
  sink: SpanSink;
  logger: Logger;
  counters: Counters;
  /** Flush deadline on shutdown (default 5000 ms). */
  flushTimeoutMs?: number;
  /** Period of the one-line stats log; 0 disables (default 0). */
  statsIntervalMs?: number;
  /** Called once everything is attached (tests and --ready-file use it). */
  onReady?: () => void;
  /** Stop after this many ms (0 = run until signalled or the sources end). */
  durationMs?: number;
}

/** A one-line summary of the counters. */
export function statsLine(counters: Counters): Record<string, number> {
  const s = counters.snapshot();
  const out: Record<string, number> = { ...s.counters, ...s.gauges };
  for (const [reason, n] of Object.entries(s.dropped)) out[`dropped_${reason}`] = n;
  return out;
}

/** Runs until the sources end or a signal arrives; returns the exit code. */
export async function runAgent(o: AgentOptions): Promise<number> {
  const { logger, counters } = o;
  const runs = await o.start();
  let stopping = false;
  const stopAll = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("stopping", { reason: why });
    await Promise.all(runs.map((r) => r.stop()));
  };
  const onSignal = (sig: Deno.Signal) => () => void stopAll(sig);
  const handlers: [Deno.Signal, () => void][] = [["SIGINT", onSignal("SIGINT")], ["SIGTERM", onSignal("SIGTERM")]];
  for (const [sig, h] of handlers) Deno.addSignalListener(sig, h);
  const statsTimer = o.statsIntervalMs
    ? setInterval(() => logger.info("stats", statsLine(counters)), o.statsIntervalMs)
    : undefined;
  const durationTimer = o.durationMs ? setTimeout(() => void stopAll("duration elapsed"), o.durationMs) : undefined;
  o.onReady?.();
  logger.info("running", { probes: runs.map((r) => r.name).join(",") });
  let failed = false;
  await Promise.all(runs.map(async (r) => {
    try {
      await r.spans.pipeTo(sinkStream(o.sink));
    } catch (e) {
      failed = true;
      logger.error("pipeline failed", { probe: r.name, error: (e as Error).message });
    }
  }));
  await stopAll("sources ended");
  clearInterval(statsTimer);
  clearTimeout(durationTimer);
  for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  const deadline = Date.now() + (o.flushTimeoutMs ?? 5000);
  await o.sink.shutdown(deadline);
  logger.info("summary", statsLine(counters));
  return failed ? 1 : 0;
}
