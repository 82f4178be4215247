/**
 * Self-telemetry counters: every event in, every span out, every drop with its
 * reason. One instance per agent, shared by all pipeline stages.
 * @module
 */

/** Names of the plain counters. */
export type CounterName =
  | "events_in"
  | "records_ignored"
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
  | "source_restarts";

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
    snapshot() {
      return {
        counters: Object.fromEntries(counts),
        dropped: Object.fromEntries(drops),
        gauges: Object.fromEntries(gauges),
      };
    },
  };
}
