/**
 * The end of every pipeline: a sink takes finished spans. Implementations:
 * console (readable lines on stdout), file (OTLP/JSON lines), OTLP over HTTP.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";

/** Where finished spans go. */
export interface SpanSink {
  /**
   * Hand over finished spans. Must not block the pipeline for long: a sink
   * that cannot keep up queues within a bound and counts what it drops.
   */
  push(spans: SpanData[]): void | Promise<void>;
  /** Deliver everything accepted so far, giving up at `deadline` (epoch ms). */
  flush(deadline?: number): Promise<void>;
  /** Flush, then release resources. Idempotent. */
  shutdown(deadline?: number): Promise<void>;
  /**
   * Why the output is failing now (unreachable, rejecting, unwritable), or
   * `undefined` while its last delivery worked. See export_health.ts.
   */
  failure?(): string | undefined;
}

/** A `WritableStream` that pushes each batch into `sink` (closing it does not shut the sink down). */
export function sinkStream(sink: SpanSink): WritableStream<SpanData[]> {
  return new WritableStream<SpanData[]>({
    write(batch) {
      if (batch.length) return sink.push(batch);
    },
  });
}

/** One sink that forwards to several. */
export function fanoutSink(sinks: SpanSink[]): SpanSink {
  if (sinks.length === 1) return sinks[0];
  return {
    async push(spans) {
      await Promise.all(sinks.map((s) => s.push(spans)));
    },
    async flush(deadline) {
      await Promise.all(sinks.map((s) => s.flush(deadline)));
    },
    async shutdown(deadline) {
      await Promise.all(sinks.map((s) => s.shutdown(deadline)));
    },
    failure() {
      for (const s of sinks) {
        const why = s.failure?.();
        if (why !== undefined) return why;
      }
      return undefined;
    },
  };
}
