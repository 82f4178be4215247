/**
 * What the local sinks (console, file) share on top of the exporter core:
 * their queue bounds and defaults, writing a whole buffer, and a write's
 * outcome as a send result (never retried: a local write that failed once
 * fails again).
 * @module
 */
import { type Counters, createCounters } from "../telemetry/counters.ts";
import { type Logger, silentLogger } from "../telemetry/log.ts";
import type { OtlpSendResult } from "./otlp_send.ts";
import type { ReliableExporterOptions } from "./reliable_exporter.ts";

/** Batching and memory bounds of a local sink, with its counters and logger. */
export interface LocalOutputOptions {
  /** Spans per write at most; 512 by default. */
  maxBatchSpans?: number;
  /** How long a partial batch waits for more spans (ms); 200 by default. */
  scheduleDelayMs?: number;
  /** Spans held in memory at most; 100 000 by default. */
  maxQueueSpans?: number;
  /** Encoded bytes held in memory at most; 64 MiB by default. */
  maxQueueBytes?: number;
  /** Counts written spans as `spans_exported`, and drops. */
  counters?: Counters;
  logger?: Logger;
}

/** `o`'s bounds, counters and logger as exporter-core options, with the local sinks' defaults. */
export function localExporterOptions(
  o: LocalOutputOptions,
): Pick<
  ReliableExporterOptions,
  "maxBatchSpans" | "scheduleDelayMs" | "maxQueueSpans" | "maxQueueBytes" | "counters" | "logger"
> {
  return {
    maxBatchSpans: o.maxBatchSpans ?? 512,
    scheduleDelayMs: o.scheduleDelayMs ?? 200,
    maxQueueSpans: o.maxQueueSpans ?? 100_000,
    maxQueueBytes: o.maxQueueBytes,
    counters: o.counters ?? createCounters(),
    logger: o.logger ?? silentLogger,
  };
}

/** Writes all of `bytes` to `writer` (a write may take only part of them). */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await writer.write(bytes.subarray(off));
}

/** `write`'s outcome as a send result: ok, or a non-retryable failure with its message. */
export async function writeResult(write: () => Promise<void> | void): Promise<OtlpSendResult> {
  try {
    await write();
    return { ok: true, status: 0, retryable: false };
  } catch (e) {
    return { ok: false, status: 0, retryable: false, error: e instanceof Error ? e.message : String(e) };
  }
}
