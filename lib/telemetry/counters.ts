/**
 * Self-telemetry counters: every event in, every span out, every drop with its
 * reason. One instance per agent, shared by all pipeline stages.
 * @module
 */

/** Names of the plain counters. */
export type CounterName =
  | "lines_in"
  | "events_in"
  | "records_ignored"
  | "records_internal"
  | "parse_errors"
  | "decode_errors"
  | "spans_started"
  | "spans_ended"
  | "spans_evicted"
  | "spans_exported"
  | "end_without_start"
  | "bpftrace_lost_events"
  | "ringbuf_reserve_failures"
  | "export_batches_ok"
  | "export_batches_retried"
  | "export_batches_failed"
  | "export_timeouts"
  | "source_restarts"
  | "clock_steps"
  | "spool_batches_written"
  | "spool_batches_recovered"
  | "spool_spans_recovered"
  | "spool_corrupt_files"
  | "spool_foreign_files"
  | "gotrace_files"
  | "gotrace_files_failed"
  | "gotrace_files_truncated"
  | "metric_points_overflowed"
  | "metrics_exports_ok"
  | "metrics_exports_failed";

/** Why spans or events were dropped. */
export type DropReason = string;

/** The counters of one agent. */
export interface Counters {
  inc(name: CounterName, n?: number): void;
  get(name: CounterName): number;
  /** Count `n` spans dropped for `reason`. */
  drop(reason: DropReason, n?: number): void;
  /** Spans dropped for `reason` so far (all reasons when omitted). */
  dropped(reason?: DropReason): number;
  /** Set a gauge (current value, e.g. open spans, queue depth). */
  gauge(name: string, value: number): void;
  /** Add `delta` to a gauge (for gauges several components contribute to). */
  gaugeAdd(name: string, delta: number): void;
  /** A copy of everything, for logs and metrics. */
  snapshot(): CountersSnapshot;
}

/** A point-in-time copy of the counters. */
export interface CountersSnapshot {
  counters: Record<string, number>;
  dropped: Record<string, number>;
  gauges: Record<string, number>;
}

/** Fresh counters, all zero. */
export function createCounters(): Counters {
  const counts = new Map<string, number>();
  const drops = new Map<string, number>();
  const gauges = new Map<string, number>();
  return {
    inc(name, n = 1) {
      counts.set(name, (counts.get(name) ?? 0) + n);
    },
    get(name) {
      return counts.get(name) ?? 0;
    },
    drop(reason, n = 1) {
      drops.set(reason, (drops.get(reason) ?? 0) + n);
    },
    dropped(reason) {
      if (reason !== undefined) return drops.get(reason) ?? 0;
      let total = 0;
      for (const v of drops.values()) total += v;
      return total;
    },
    gauge(name, value) {
      gauges.set(name, value);
    },
    gaugeAdd(name, delta) {
      gauges.set(name, (gauges.get(name) ?? 0) + delta);
    },
    snapshot() {
      return {
        counters: Object.fromEntries(counts),
        dropped: Object.fromEntries(drops),
        gauges: Object.fromEntries(gauges),
      };
    },
  };
}

/**
 * Drop reasons that count records or events lost before they became spans
 * (the kernel ring buffer was full). Everything else counts spans.
 */
export const EVENT_DROP_REASONS: ReadonlySet<string> = new Set(["ringbuf_full"]);

/** Where every span went, from one snapshot (see docs/reliability.md). */
export interface SpanAccount {
  /** Spans the sources made this run: ended (handed to export) or still open. */
  produced: number;
  /** Spans found in the spool at start (made by an earlier run). */
  recovered: number;
  exported: number;
  /** Spans dropped, all reasons but {@linkcode EVENT_DROP_REASONS}. */
  dropped: number;
  /** Spans still open in a span builder. */
  open: number;
  /** Spans held by the exporter: in memory (queued, encoded, in flight) or in the spool. */
  pending: number;
  /** `produced + recovered - exported - dropped - open - pending`: 0 when nothing was lost silently. */
  unaccounted: number;
}

/**
 * The span accounting invariant: every span produced (or recovered from the
 * spool) is exported, dropped with a reason, still open, or still pending.
 */
export function spanAccount(s: CountersSnapshot): SpanAccount {
  const c = (k: string) => s.counters[k] ?? 0;
  const g = (k: string) => s.gauges[k] ?? 0;
  let dropped = 0;
  for (const [reason, n] of Object.entries(s.dropped)) if (!EVENT_DROP_REASONS.has(reason)) dropped += n;
  const open = g("open_spans");
  const produced = c("spans_ended") + open;
  const recovered = c("spool_spans_recovered");
  const exported = c("spans_exported");
  const pending = g("export_queue_spans") + g("spool_spans");
  return {
    produced,
    recovered,
    exported,
    dropped,
    open,
    pending,
    unaccounted: produced + recovered - exported - dropped - open - pending,
  };
}
