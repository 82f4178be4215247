/**
 * The reliability layer in front of an OTLP endpoint (see docs/reliability.md):
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
 * Gauges: `export_queue_spans` / `export_queue_bytes` (held in memory),
 * `spool_*`. Shutdown exports until its deadline, then cancels what is in
 * flight and spools (or drops as `export_shutdown`) what is left.
 * @module
 */
import type { SpanData } from "../spans/span_data.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { backoffDelayMs } from "./backoff.ts";
import { createExportHealth, createRefusalLog } from "./export_health.ts";
import type { OtlpSendResult } from "./otlp_send.ts";
import type { SpanSink } from "./sink.ts";
import type { EncodedBatch, Spool, SpoolRef } from "./spool.ts";
import { createSpanQueue } from "./span_queue.ts";
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
  /** For logs. */
  endpoint?: string;
  /** Random in [0, 1) for jitter. */
  random?: () => number;
}

/** A memory batch or a spooled one. */
interface Entry {
  seq: number;
  spans: number;
  /** Encoded bytes (memory) or file bytes (spool). */
  bytes: number;
  batch?: EncodedBatch;
  file?: SpoolRef;
  attempts: number;
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
  const scheduleDelayMs = o.scheduleDelayMs ?? EXPORT_DEFAULTS.scheduleDelayMs;
  const maxSpans = o.maxQueueSpans ?? EXPORT_DEFAULTS.maxQueueSpans;
  const maxBytes = o.maxQueueBytes ?? EXPORT_DEFAULTS.maxQueueBytes;
  const maxConcurrent = Math.max(1, o.maxConcurrent ?? 1);
  const maxAttempts = o.maxAttempts ?? Infinity;
  const backoff = {
    initialMs: o.initialBackoffMs ?? EXPORT_DEFAULTS.initialBackoffMs,
    maxMs: o.maxBackoffMs ?? EXPORT_DEFAULTS.maxBackoffMs,
    random: o.random,
  };
  const highWater = o.highWaterSpans ?? 4 * maxBatch;
  const maxPushWaitMs = o.maxPushWaitMs ?? 100;

  const pending = createSpanQueue(Number.MAX_SAFE_INTEGER); // bounds are enforced here, in push
  const memory: Entry[] = []; // encoded, oldest (lowest seq) first
  const inflight = new Set<Entry>();
  const abort = new AbortController();
  const progress = createWakeup();
  const idle = createWakeup();
  const deadlines: (number | undefined)[] = [];
  const health = createExportHealth();
  const logRefusal = createRefusalLog(logger);

  let nextSeq = spool?.nextSeq ?? 0;
  let encodingSpans = 0; // taken from `pending`, not yet an entry
  let memorySpans = 0; // in `memory` and in flight from memory
  let memoryBytes = 0;
  let avgSpanBytes = 200; // encoded bytes per span, learned
  let healthy = true;
  let unhealthySince = 0;
  let failures = 0; // consecutive retryable failures
  let blockedUntil = 0; // no new request before this (epoch ms)
  let blockTimer: ReturnType<typeof setTimeout> | undefined;
  let scheduleTimer: ReturnType<typeof setTimeout> | undefined;
  let due = false;
  let flushing = 0;
  let encoding = false;
  let spoolWrites = 0;
  let closed = false;
  let stopped = false; // shutdown deadline passed: no more sends
  let shutdownPromise: Promise<void> | undefined;

  const heldSpans = () => pending.size + encodingSpans + memorySpans;
  const heldBytes = () => Math.round((pending.size + encodingSpans) * avgSpanBytes) + memoryBytes;

  function publish(): void {
    counters.gauge("export_queue_spans", heldSpans());
    counters.gauge("export_queue_bytes", heldBytes());
  }

  function notifyProgress(): void {
    progress.notify();
  }

  function isIdle(): boolean {
    if (encoding || spoolWrites > 0 || inflight.size > 0) return false;
    if (stopped) return true;
    return pending.size === 0 && memory.length === 0 && (spool?.files ?? 0) === 0;
  }

  function checkIdle(): void {
    if (isIdle()) idle.notify();
  }

  // ---- batching and encoding -------------------------------------------------

  function schedule(): void {
    if (pending.size === 0 || due || scheduleTimer !== undefined || stopped) return;
    scheduleTimer = setTimeout(() => {
      scheduleTimer = undefined;
      due = true;
      void encodeLoop();
    }, scheduleDelayMs);
  }

  /** Turns queued spans into encoded entries (one loop at a time). */
  async function encodeLoop(): Promise<void> {
    if (encoding) return;
    encoding = true;
    try {
      while (pending.size > 0 && (pending.size >= maxBatch || due || flushing > 0 || closed)) {
        if (scheduleTimer !== undefined) {
          clearTimeout(scheduleTimer);
          scheduleTimer = undefined;
        }
        const batch = pending.take(maxBatch);
        due = false; // the next partial batch waits its own delay
        encodingSpans = batch.length;
        let encoded: EncodedBatch;
        try {
          encoded = await o.encode(batch);
        } catch (e) {
          encodingSpans = 0;
          counters.inc("export_batches_failed");
          counters.drop("export_encode_error", batch.length);
          logger.error("OTLP encoding failed", { error: e, spans: batch.length });
          publish();
          continue;
        }
        encodingSpans = 0;
        avgSpanBytes = avgSpanBytes * 0.8 + (encoded.body.length / Math.max(1, batch.length)) * 0.2;
        const entry: Entry = {
          seq: nextSeq++,
          spans: encoded.spans,
          bytes: encoded.body.length,
          batch: encoded,
          attempts: 0,
        };
        memorySpans += entry.spans;
        memoryBytes += entry.bytes;
        insertMemory(entry);
        if (spool && (!healthy || spool.files > 0 || stopped)) await spoolEntries([entry]);
        publish();
        pumpSends();
      }
      if (pending.size === 0) due = false;
    } finally {
      encoding = false;
      schedule();
      checkIdle();
    }
  }

  function insertMemory(entry: Entry): void {
    let at = memory.length;
    while (at > 0 && memory[at - 1].seq > entry.seq) at--;
    memory.splice(at, 0, entry);
  }

  function releaseMemory(entry: Entry): void {
    if (!entry.batch) return;
    memorySpans -= entry.spans;
    memoryBytes -= entry.bytes;
    entry.batch = undefined;
  }

  // ---- spool -----------------------------------------------------------------

  /** Moves memory entries to the spool (those not in flight). */
  async function spoolEntries(entries: Entry[]): Promise<void> {
    if (!spool) return;
    spoolWrites++;
    try {
      for (const entry of entries) {
        const i = memory.indexOf(entry);
        if (i < 0 || !entry.batch) continue; // sent or spooled meanwhile
        memory.splice(i, 1);
        const batch = entry.batch;
        let stored = false;
        try {
          stored = await spool.write(entry.seq, batch);
        } catch (e) {
          logger.warnLimited("spool_write", "spool: cannot write a batch; keeping it in memory", {
            dir: spool.dir,
            error: e,
          });
          insertMemory(entry); // still bounded by the memory limits
          continue;
        }
        releaseMemory(entry);
        if (!stored) {
          counters.inc("export_batches_failed");
          counters.drop("spool_full", entry.spans);
          logger.warnLimited("spool_full", "spool full; batch dropped", {
            dir: spool.dir,
            maxBytes: spool.maxBytes,
            spans: entry.spans,
          });
        }
      }
    } finally {
      spoolWrites--;
      publish();
      notifyProgress();
      pumpSends();
      checkIdle();
    }
  }

  // ---- sending ---------------------------------------------------------------

  /** The next entry to send: the spool first (it holds the oldest), then memory. */
  function nextEntry(): Entry | undefined {
    const ref = spool?.take();
    if (ref) return { seq: ref.seq, spans: ref.spans, bytes: ref.bytes, file: ref, attempts: 0 };
    const entry = memory.shift();
    return entry;
  }

  function pumpSends(): void {
    while (!stopped && inflight.size < maxConcurrent) {
      const wait = blockedUntil - Date.now();
      if (wait > 0) {
        if (blockTimer === undefined) {
          blockTimer = setTimeout(() => {
            blockTimer = undefined;
            pumpSends();
          }, wait);
        }
        return;
      }
      const entry = nextEntry();
      if (!entry) return;
      inflight.add(entry);
      void sendEntry(entry).catch((e) => {
        logger.error("OTLP export crashed", { error: e });
        counters.drop("export_internal_error", entry.spans);
        if (entry.file) void spool?.remove(entry.file);
        releaseMemory(entry);
      }).finally(() => {
        inflight.delete(entry);
        publish();
        notifyProgress();
        pumpSends();
        checkIdle();
      });
    }
  }

  function ctxDeadline(): number | undefined {
    let min: number | undefined;
    for (const d of deadlines) if (d !== undefined && (min === undefined || d < min)) min = d;
    return min;
  }

  async function discardFile(entry: Entry, why: string): Promise<void> {
    counters.inc("spool_corrupt_files");
    counters.drop("spool_corrupt", entry.spans);
    logger.warn("spool: skipping a damaged batch file", { dir: spool!.dir, seq: entry.seq, why, spans: entry.spans });
    await spool!.remove(entry.file!);
  }

  async function sendEntry(entry: Entry): Promise<void> {
    let batch = entry.batch;
    if (!batch) {
      const read = await spool!.read(entry.file!);
      if (!read.ok) return await discardFile(entry, read.why);
      batch = read.batch;
    }
    entry.attempts++;
    const result = await o.send(batch, abort.signal, ctxDeadline());
    if (result.ok) {
      if (!healthy) {
        logger.info("OTLP endpoint answers again; sending what was held", {
          endpoint: o.endpoint,
          outageMs: Date.now() - unhealthySince,
          heldSpans: heldSpans(),
          spooledSpans: spool?.spans,
          droppedSoFar: counters.dropped(),
        });
      }
      healthy = true;
      health.ok();
      failures = 0;
      const rejected = Math.min(entry.spans, result.rejectedSpans ?? 0);
      counters.inc("export_batches_ok");
      counters.inc("spans_exported", entry.spans - rejected);
      if (rejected) counters.drop("export_rejected", rejected);
      if (rejected || result.errorMessage) {
        logger.warnLimited("otlp_partial", "OTLP endpoint rejected spans", {
          rejected,
          message: result.errorMessage,
        });
      }
      await finish(entry);
      return;
    }
    if (result.error === "aborted" && abort.signal.aborted) {
      // shutdown gave up on it: back to the queue, spooled or dropped by shutdown()
      entry.attempts--;
      requeue(entry);
      return;
    }
    if (!result.retryable || entry.attempts >= maxAttempts) {
      if (!result.retryable) {
        healthy = true; // the endpoint answers; it refused this batch
        failures = 0;
      }
      health.failed(result.status ? `refused: http ${result.status}` : `not answering: ${result.error}`);
      counters.inc("export_batches_failed");
      counters.drop(o.dropReason(result), entry.spans);
      const fields = {
        endpoint: o.endpoint,
        status: result.status,
        error: result.error,
        message: result.errorMessage,
        spans: entry.spans,
        attempts: entry.attempts,
      };
      if (!result.retryable && result.status) logRefusal(fields);
      else logger.warnLimited("otlp_failed", "OTLP export failed; spans dropped", fields);
      await finish(entry);
      return;
    }
    // retryable: wait, then try again, this batch first
    const wasHealthy = healthy;
    if (wasHealthy) unhealthySince = Date.now();
    health.failed(result.status ? `not answering: http ${result.status}` : `not answering: ${result.error}`);
    healthy = false;
    failures++;
    const wait = result.retryAfterMs !== undefined
      ? Math.min(result.retryAfterMs, o.maxRetryAfterMs ?? EXPORT_DEFAULTS.maxRetryAfterMs)
      : backoffDelayMs(failures, backoff);
    blockedUntil = Math.max(blockedUntil, Date.now() + wait);
    counters.inc("export_batches_retried");
    const fields = {
      endpoint: o.endpoint,
      status: result.status || undefined,
      error: result.error,
      retryAfterMs: result.retryAfterMs,
      waitMs: wait,
      heldSpans: heldSpans(),
      spooledSpans: spool?.spans,
    };
    if (wasHealthy) logger.warn("OTLP endpoint not answering; holding spans and retrying", fields);
    else logger.debug("OTLP export retry", { ...fields, attempt: entry.attempts });
    requeue(entry);
    if (spool) await spoolEntries([...memory]);
  }

  function requeue(entry: Entry): void {
    if (entry.file) spool!.release(entry.file);
    else insertMemory(entry);
  }

  async function finish(entry: Entry): Promise<void> {
    releaseMemory(entry);
    if (entry.file) await spool!.remove(entry.file);
  }

  // ---- flush and shutdown ----------------------------------------------------

  async function waitIdle(deadline: number | undefined): Promise<void> {
    if (isIdle()) return;
    await idle.wait(deadline === undefined ? undefined : deadline - Date.now());
  }

  function waitProgress(): Promise<void> {
    return progress.wait(maxPushWaitMs);
  }

  async function flush(deadline?: number): Promise<void> {
    flushing++;
    deadlines.push(deadline);
    try {
      void encodeLoop();
      pumpSends();
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
    if (scheduleTimer !== undefined) clearTimeout(scheduleTimer);
    if (blockTimer !== undefined) clearTimeout(blockTimer);
    abort.abort();
    // let cancelled requests and running writes settle (they requeue)
    while (inflight.size > 0 || encoding || spoolWrites > 0) await waitProgressOrIdle();
    // anything still queued as spans (a flush cut short by its deadline)
    if (pending.size > 0) {
      due = true;
      await encodeLoop();
    }
    if (spool && memory.length) {
      const spans = memorySpans;
      await spoolEntries([...memory]);
      logger.info("spool: spans still held at shutdown were written to the spool", {
        dir: spool.dir,
        spans: spans - memorySpans,
      });
    }
    let left = pending.clear() + memorySpans;
    for (const e of memory.splice(0)) releaseMemory(e);
    left = Math.max(0, left);
    if (left) {
      counters.drop("export_shutdown", left);
      logger.warn("spans dropped at shutdown (flush deadline passed)", { spans: left });
    }
    publish();
  }

  async function waitProgressOrIdle(): Promise<void> {
    const either = new AbortController();
    await Promise.race([progress.wait(50, either.signal), idle.wait(50, either.signal)]);
    either.abort();
  }

  // a spool from an earlier run: start sending at once
  if (spool && spool.files > 0) queueMicrotask(pumpSends);
  publish();

  return {
    push(spans) {
      if (spans.length === 0) return;
      if (closed) {
        counters.drop("export_shutdown", spans.length);
        return;
      }
      const bySpans = maxSpans - heldSpans();
      const byBytes = Math.floor((maxBytes - heldBytes()) / Math.max(1, avgSpanBytes));
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
      if (take > 0) pending.push(take === spans.length ? spans : spans.slice(0, take));
      publish();
      if (pending.size >= maxBatch) void encodeLoop();
      else schedule();
      if (healthy && heldSpans() >= highWater && inflight.size > 0) return waitProgress();
    },
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
      return healthy;
    },
    failure: () => health.failure,
  };
}
