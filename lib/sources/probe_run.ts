/**
 * What every source hands the agent once started: a stream of finished spans
 * and a way to stop. bpftrace probes and ring-buffer probes both produce one.
 * @module
 */
import type { SpanData } from "../spans/span_data.ts";

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

/**
 * An error the user can act on (bad config, missing privilege, attach point
 * not found). The CLI prints its message without a stack trace.
 */
export class UserError extends Error {
  /** The exit code the CLI should use: 2 for usage/config, 1 for runtime. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}
