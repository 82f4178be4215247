/**
 * The counters in the Prometheus text exposition format (0.0.4), served on
 * loopback only (`--metrics-port`): `GET /metrics`.
 *
 * - every counter as `spanprobe_<name>_total` (type counter);
 * - drops as `spanprobe_spans_dropped_total{reason="..."}`;
 * - gauges as `spanprobe_<name>` (dots and other characters become `_`);
 * - `spanprobe_spans_unaccounted`: the accounting invariant (0 when every
 *   span is exported, dropped with a reason, open or pending).
 * @module
 */
import { type Counters, type CountersSnapshot, spanAccount } from "./counters.ts";
import type { Logger } from "./log.ts";
import { UserError } from "../core/errors.ts";

const HELP: Record<string, string> = {
  lines_in: "Output lines read from bpftrace",
  events_in: "Probe events decoded",
  records_ignored: "bpftrace records that are no declared event",
  records_internal: "Calibration, heartbeat, lost-event and message records",
  parse_errors: "Lines that are not bpftrace records (malformed, truncated, overlong)",
  decode_errors: "Events that do not match their declared fields",
  spans_started: "Spans opened by a start event",
  spans_ended: "Spans finished and handed to export",
  spans_evicted: "Open spans ended by the agent (TTL, overflow, shutdown)",
  spans_exported: "Spans the endpoint accepted",
  end_without_start: "End or error events whose span never started",
  bpftrace_lost_events: "Events bpftrace reported lost",
  ringbuf_reserve_failures: "Ring-buffer reservations that failed in the kernel",
  export_batches_ok: "Export requests accepted",
  export_batches_retried: "Export requests retried",
  export_batches_failed: "Export batches given up",
  export_timeouts: "Export requests without an answer in time (retried: the batch may arrive twice)",
  source_restarts: "Sources (bpftrace) restarted after dying",
  clock_steps: "Wall-clock steps seen after a calibration (boot-clock times re-anchored)",
  spool_batches_written: "Batches written to the disk spool",
  spool_batches_recovered: "Batches found in the spool at start",
  spool_spans_recovered: "Spans found in the spool at start",
  spool_corrupt_files: "Damaged spool files skipped",
  spool_foreign_files: "Files in the spool folder the agent did not write, moved to quarantine/",
  metric_points_overflowed: "Span metric points recorded in an otel.metric.overflow series (cardinality limit reached)",
  metrics_exports_ok: "OTLP metrics requests accepted",
  metrics_exports_failed:
    "OTLP metrics requests given up (refused, dropped from a full delta queue, or unsent at the flush deadline)",
};

function metricName(name: string): string {
  return `spanprobe_${name.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** The snapshot in Prometheus text format. */
export function prometheusText(s: CountersSnapshot): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(s.counters).sort()) {
    const m = `${metricName(name)}_total`;
    if (HELP[name]) lines.push(`# HELP ${m} ${HELP[name]}`);
    lines.push(`# TYPE ${m} counter`, `${m} ${value}`);
  }
  lines.push(
    "# HELP spanprobe_spans_dropped_total Spans (or events, for ringbuf_full) dropped, by reason",
    "# TYPE spanprobe_spans_dropped_total counter",
  );
  for (const [reason, value] of Object.entries(s.dropped).sort()) {
    lines.push(`spanprobe_spans_dropped_total{reason="${escapeLabel(reason)}"} ${value}`);
  }
  for (const [name, value] of Object.entries(s.gauges).sort()) {
    const m = metricName(name);
    lines.push(`# TYPE ${m} gauge`, `${m} ${value}`);
  }
  lines.push(
    "# HELP spanprobe_spans_unaccounted Spans neither exported, dropped, open nor pending (0 unless spans are in transit between stages)",
    "# TYPE spanprobe_spans_unaccounted gauge",
    `spanprobe_spans_unaccounted ${spanAccount(s).unaccounted}`,
  );
  return lines.join("\n") + "\n";
}

/** A running metrics endpoint. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` on 127.0.0.1:`port` (never on other interfaces). */
export async function serveMetrics(o: {
  port: number;
  counters: Counters;
  logger: Logger;
  /** More exposition text after the counters (the span metrics, docs/metrics.md). */
  extraText?: () => string;
}): Promise<MetricsServer> {
  const ready = Promise.withResolvers<number>();
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: o.port,
      onListen: (addr) => ready.resolve((addr as Deno.NetAddr).port),
      onError: (e) => {
        o.logger.warn("metrics endpoint error", { error: e });
        return new Response("internal error\n", { status: 500 });
      },
    }, (req) => {
      const path = new URL(req.url).pathname;
      if (path !== "/metrics" && path !== "/") return new Response("not found\n", { status: 404 });
      if (req.method !== "GET" && req.method !== "HEAD") return new Response(null, { status: 405 });
      return new Response(prometheusText(o.counters.snapshot()) + (o.extraText?.() ?? ""), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    });
  } catch (e) {
    throw new UserError(`--metrics-port ${o.port}: cannot listen on 127.0.0.1:${o.port}: ${(e as Error).message}`, 1);
  }
  const port = await ready.promise;
  o.logger.info("serving metrics", { url: `http://127.0.0.1:${port}/metrics` });
  return {
    port,
    close: () => server.shutdown(),
  };
}
