/**
 * The one exporter core: every sink runs on it (OTLP/HTTP, the OTLP/JSON
 * file, the console); a sink only encodes a batch and delivers it once. It
 * puts together batching (batcher.ts), holding batches in memory or the
 * spool (batch_store.ts) and sending with retry and health (sender.ts), and
 * owns the bounds, the backpressure, flush and shutdown (see
 * docs/reliability.md):
 *
 * - **Bounded memory.** Spans wait in a queue, leave in batches of at most
 *   `maxBatchSpans` (a full batch at once, a partial one after
 *   `scheduleDelayMs`) and are encoded right away: during an outage the
 *   backlog is held as encoded request bodies (~5× smaller than span
 *   objects). Everything held in memory — queued spans, encoded batches,
 *   requests in flight — counts against `maxQueueSpans` and `maxQueueBytes`
 *   (encoded bytes; queued spans are estimated from the average encoded size
 *   so far). When a push does not fit, the **newest** spans are refused and
 *   counted as `export_queue_full`.
 * - **Retries.** Only what the OTLP spec calls retryable (429, 502, 503,
 *   504, no answer) is retried, with exponential backoff and jitter capped at
 *   `maxBackoffMs`, or exactly after `Retry-After` when the server sends one
 *   (seconds or an HTTP date; at most `maxRetryAfterMs`). A
 *   failed batch goes back to the head of the queue and nothing is sent until
 *   the wait is over: retries go on for as long as the batch is held (no
 *   attempt limit by default), so an outage loses nothing until a bound is
 *   reached. Other answers drop the batch (`export_http_<status>`);
 *   `partial_success.rejected_spans` are counted as `export_rejected`.
 * - **Spool** (optional). With a spool, batches are written to disk instead
 *   of held in memory from the first retryable failure until the spool is
 *   empty again, and whatever is still held at shutdown is written there too;
 *   the spool is sent first, oldest first. See {@linkcode openSpool}.
 * - **Backpressure** only while the endpoint is healthy: a push waits
 *   (briefly) for an export when the queue is above a few batches, so a fast
 *   source does not drop spans against a slow but working collector. During
 *   an outage pushes never wait.
 *
 * Gauges: `export_queue_spans` / `export_queue_bytes` (held in memory; the
 * prefix is an option), `spool_*`. Shutdown exports until its deadline, then
 * cancels what is in flight and spools (or drops as `export_shutdown`) what
 * is left.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { createBatchStore } from "./batch_store.ts";
import { createBatcher } from "./batcher.ts";
import type { OtlpSendResult } from "./otlp_send.ts";
import { createSender } from "./sender.ts";
import type { SpanSink } from "./sink.ts";
import type { EncodedBatch, Spool } from "./spool.ts";
import { createWakeup } from "./wakeup.ts";

/** Default bounds (also documented in docs/reliability.md and `run --help`). */
export const EXPORT_DEFAULTS = {
  maxBatchSpans: 512,
  scheduleDelayMs: 200,
  maxQueueSpans: 500_000,
  maxQueueBytes: 64 * 1024 * 1024,
  initialBackoffMs: 1000,
  maxBackoffMs: 5_000,
  maxRetryAfterMs: 300_000,
} as const;

/** Options of {@linkcode createReliableExporter}. */
export interface ReliableExporterOptions {
  /** Encode a batch (throwing drops it as `export_encode_error`). */
  encode(spans: SpanData[]): EncodedBatch | Promise<EncodedBatch>;
  /** Send one encoded batch once; never throws. Aborted by `signal` at shutdown. */
  send(batch: EncodedBatch, signal: AbortSignal, deadline: number | undefined): Promise<OtlpSendResult>;
  /** The drop reason of a failed send. */
  dropReason(result: OtlpSendResult): string;
  maxBatchSpans?: number;
  scheduleDelayMs?: number;
  /** Spans held in memory at most (queued, encoded, in flight). */
  maxQueueSpans?: number;
  /** Bytes held in memory at most (encoded; queued spans estimated). */
  maxQueueBytes?: number;
  /** Requests in flight at once; 1 by default. */
  maxConcurrent?: number;
  /** Tries per batch before it is dropped; unlimited by default. */
  maxAttempts?: number;
  initialBackoffMs?: number;
  /** Longest backoff between tries (a `Retry-After` may ask for longer). */
  maxBackoffMs?: number;
  /** Longest `Retry-After` honored (longer ones are cut to this); 5 minutes by default. */
  maxRetryAfterMs?: number;
  /** Queue depth above which a push waits for an export while healthy (default 4 batches). */
  highWaterSpans?: number;
  /** Longest a push waits for backpressure (default 100 ms). */
  maxPushWaitMs?: number;
  /** Where batches go while the endpoint does not answer (see module doc). */
  spool?: Spool;
  counters: Counters;
  logger: Logger;
  /** What batches go to, in log messages: "OTLP" (default), "file". */
  name?: string;
  /** Fields naming the destination in logs (e.g. `{ endpoint }`, `{ path }`). */
  target?: Record<string, unknown>;
  /** Gauges of what memory holds: `<prefix>_spans`, `<prefix>_bytes`; `export_queue` by default. */
  gaugePrefix?: string;
  /** Random in [0, 1) for jitter. */
  random?: () => number;
}

/** A sink with the reliability layer. */
export interface ReliableExporter extends SpanSink {
  /** Spans held in memory (queued, encoded, in flight). */
  readonly heldSpans: number;
  readonly heldBytes: number;
  /** Whether the last answer was a success (or a non-retryable refusal). */
  readonly healthy: boolean;
  /** Why the endpoint is failing now (not answering, or refusing batches); `undefined` after a success. */
  failure(): string | undefined;
}

/** Starts the exporter (idle until spans arrive, or until the spool has something). */
export function createReliableExporter(o: ReliableExporterOptions): ReliableExporter {
  const { counters, logger, spool } = o;
  const maxBatch = Math.max(1, o.maxBatchSpans ?? EXPORT_DEFAULTS.maxBatchSpans);
  const maxSpans = o.maxQueueSpans ?? EXPORT_DEFAULTS.maxQueueSpans;
  const maxBytes = o.maxQueueBytes ?? EXPORT_DEFAULTS.maxQueueBytes;
  const highWater = o.highWaterSpans ?? 4 * maxBatch;
  const maxPushWaitMs = o.maxPushWaitMs ?? 100;
  const gaugePrefix = o.gaugePrefix ?? "export_queue";

  const progress = createWakeup();
  const idle = createWakeup();
  const deadlines: (number | undefined)[] = [];
  let flushing = 0;
  let closed = false;
  let stopped = false; // shutdown deadline passed: no more sends
  let shutdownPromise: Promise<void> | undefined;

  const heldSpans = () => batcher.spans + store.spans;
  const heldBytes = () => Math.round(batcher.spans * batcher.bytesPerSpan) + store.bytes;

  /** After anything settled: gauges, waiting pushes, more sends, idle waiters. */
  function settled(): void {
    publish();
    progress.notify();
    sender.pump();
    checkIdle();
  }

  const store = createBatchStore({ spool, counters, logger, onChange: settled });
  const sender = createSender({
    store,
    send: o.send,
    dropReason: o.dropReason,
    maxConcurrent: Math.max(1, o.maxConcurrent ?? 1),
    maxAttempts: o.maxAttempts ?? Infinity,
    backoff: {
      initialMs: o.initialBackoffMs ?? EXPORT_DEFAULTS.initialBackoffMs,
      maxMs: o.maxBackoffMs ?? EXPORT_DEFAULTS.maxBackoffMs,
      random: o.random,
    },
    maxRetryAfterMs: o.maxRetryAfterMs ?? EXPORT_DEFAULTS.maxRetryAfterMs,
    deadline: earliestDeadline,
    name: o.name ?? "OTLP",
    target: o.target ?? {},
    heldSpans,
    counters,
    logger,
    onSettled: settled,
  });
  const batcher = createBatcher({
    maxBatchSpans: maxBatch,
    scheduleDelayMs: o.scheduleDelayMs ?? EXPORT_DEFAULTS.scheduleDelayMs,
    encode: o.encode,
    async deliver(batch) {
      const held = store.add(batch);
      if (spool && (!sender.healthy || spool.files > 0 || stopped)) await store.toSpool([held]);
      publish();
      sender.pump();
    },
    onEncodeError(error, spans) {
      counters.inc("export_batches_failed");
      counters.drop("export_encode_error", spans);
      logger.error(`${o.name ?? "OTLP"} encoding failed`, { error, spans });
      publish();
    },
    hurry: () => flushing > 0 || closed,
    onIdle: checkIdle,
  });

  function publish(): void {
    counters.gauge(`${gaugePrefix}_spans`, heldSpans());
    counters.gauge(`${gaugePrefix}_bytes`, heldBytes());
  }

  function earliestDeadline(): number | undefined {
    let min: number | undefined;
    for (const d of deadlines) if (d !== undefined && (min === undefined || d < min)) min = d;
    return min;
  }

  function isIdle(): boolean {
    if (batcher.busy || store.writing || sender.inflight > 0) return false;
    if (stopped) return true;
    return batcher.spans === 0 && store.empty;
  }

  function checkIdle(): void {
    if (isIdle()) idle.notify();
  }

  async function waitIdle(deadline: number | undefined): Promise<void> {
    if (isIdle()) return;
    await idle.wait(deadline === undefined ? undefined : deadline - Date.now());
  }

  async function waitProgressOrIdle(): Promise<void> {
    const either = new AbortController();
    await Promise.race([progress.wait(50, either.signal), idle.wait(50, either.signal)]);
    either.abort();
  }

  async function flush(deadline?: number): Promise<void> {
    flushing++;
    deadlines.push(deadline);
    try {
      void batcher.run();
      sender.pump();
      await waitIdle(deadline);
    } finally {
      flushing--;
      deadlines.splice(deadlines.indexOf(deadline), 1);
    }
  }

  async function shutdown(deadline?: number): Promise<void> {
    closed = true;
    await flush(deadline);
    stopped = true;
    batcher.stop();
    sender.stop();
    // let cancelled requests and running writes settle (they requeue)
    while (sender.inflight > 0 || batcher.busy || store.writing) await waitProgressOrIdle();
    // anything still queued as spans (a flush cut short by its deadline)
    if (batcher.spans > 0) await batcher.run();
    if (spool && store.waiting > 0) {
      const before = store.spans;
      await store.toSpool();
      logger.info("spool: spans still held at shutdown were written to the spool", {
        dir: spool.dir,
        spans: before - store.spans,
      });
    }
    const left = batcher.clear() + store.clear();
    if (left) {
      counters.drop("export_shutdown", left);
      logger.warn("spans dropped at shutdown (flush deadline passed)", { spans: left });
    }
    publish();
  }

  /** Takes what fits the bounds; the newest spans beyond them are counted as `export_queue_full`. */
  function push(spans: readonly SpanData[]): void | Promise<void> {
    if (spans.length === 0) return;
    if (closed) {
      counters.drop("export_shutdown", spans.length);
      return;
    }
    const bySpans = maxSpans - heldSpans();
    const byBytes = Math.floor((maxBytes - heldBytes()) / Math.max(1, batcher.bytesPerSpan));
    const room = Math.max(0, Math.min(bySpans, byBytes));
    const take = Math.min(room, spans.length);
    if (take < spans.length) {
      counters.drop("export_queue_full", spans.length - take);
      logger.warnLimited("queue_full", "export queue full; newest spans dropped", {
        heldSpans: heldSpans(),
        heldBytes: heldBytes(),
        maxQueueSpans: maxSpans,
        maxQueueBytes: maxBytes,
        dropped: spans.length - take,
      });
    }
    if (take > 0) batcher.push(take === spans.length ? spans : spans.slice(0, take));
    publish();
    if (sender.healthy && heldSpans() >= highWater && sender.inflight > 0) return progress.wait(maxPushWaitMs);
  }

  // a spool from an earlier run: start sending at once
  if (spool && spool.files > 0) queueMicrotask(sender.pump);
  publish();

  return {
    push,
    flush,
    shutdown(deadline) {
      shutdownPromise ??= shutdown(deadline);
      return shutdownPromise;
    },
    get heldSpans() {
      return heldSpans();
    },
    get heldBytes() {
      return heldBytes();
    },
    get healthy() {
      return sender.healthy;
    },
    failure: () => sender.failure(),
  };
}
