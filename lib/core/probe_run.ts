/**
 * What every source hands the agent once started: a stream of finished spans
 * and a way to stop. Every source under `lib/sources/` produces one.
 * @module
 */
import type { SpanData } from "./span_data.ts";

/** A probe that is attached and producing spans. */
export interface ProbeRun {
  /** A display name (the probe's name). */
  readonly name: string;
  /** Finished spans in batches; closes after {@linkcode ProbeRun.stop} or when the source ends. */
  readonly spans: ReadableStream<SpanData[]>;
  /**
   * Stop producing: detach, end or drop open spans by the documented rule
   * (counted), then close `spans`. Idempotent.
   */
  stop(): Promise<void>;
  /** Settles when the source has ended by itself or after stop (e.g. the target exited). */
  readonly done: Promise<void>;
}
