/**
 * Batching in front of an exporter: spans wait in a bounded queue and leave
 * in batches of at most `maxBatchSpans`, as soon as a full batch is there or
 * `scheduleDelayMs` after the first span arrived, with at most
 * `maxConcurrent` exports in flight. Sinks supply `exportBatch` (which counts
 * its own outcome) and get push/flush/shutdown.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";
import { createSpanQueue } from "./span_queue.ts";
import { createWakeup } from "./wakeup.ts";

/** What an export sees besides its batch. */
export interface ExportContext {
  /** Epoch ms by which a pending flush or shutdown wants to be done, if any. */
  readonly deadline: number | undefined;
  /** Aborted when a shutdown gives up waiting; stop retrying then. */
  readonly signal: AbortSignal;
}

/** Options of {@linkcode createBatchWorker}. */
export interface BatchWorkerOptions {
  /** Spans per batch at most. */
  maxBatchSpans: number;
  /** How long a partial batch waits for more spans (ms). */
  scheduleDelayMs: number;
  /** Spans queued at most; more are dropped as "export_queue_full". */
  maxQueueSpans: number;
  /** Exports in flight at once; 1 by default. */
  maxConcurrent?: number;
  /** Deliver one batch. Should not throw; a throw drops the batch as "export_internal_error". */
  exportBatch(batch: SpanData[], ctx: ExportContext): Promise<void>;
  /** Count `n` spans dropped for `reason`. */
  drop(reason: string, n: number): void;
  /** Told the queue depth whenever it changes. */
  queueDepth?(spans: number): void;
  /** Told about an export that threw. */
  onExportError?(error: unknown): void;
  /**
   * Whether the destination is currently accepting (no retry under way).
   * While it is, `push` applies backpressure above `highWaterSpans`; while it
   * is not (an outage), `push` never waits: the bounded queue fills and
   * overflow is counted.
   */
  isHealthy?(): boolean;
  /** Queue depth above which `push` waits for an export to finish (default 4 batches). */
  highWaterSpans?: number;
  /** Longest a `push` waits for backpressure (default 100 ms). */
  maxPushWaitMs?: number;
}

/** A running batcher. */
export interface BatchWorker {
  /**
   * Queue spans (dropping what does not fit, or everything after shutdown).
   * Returns a promise when the caller should slow down (see `isHealthy`).
   */
  push(spans: readonly SpanData[]): void | Promise<void>;
  /** Export everything queued now; resolves when done or at `deadline` (epoch ms). */
  flush(deadline?: number): Promise<void>;
  /**
   * Stop accepting, flush until `deadline`, then cancel what is still in
   * flight and drop what is still queued ("export_shutdown"). Idempotent.
   */
  shutdown(deadline?: number): Promise<void>;
  /** Spans queued. */
  readonly queued: number;
  /** Exports in flight. */
  readonly active: number;
}

/** Start a batcher (it does nothing until spans arrive). */
export function createBatchWorker(opts: BatchWorkerOptions): BatchWorker {
  const queue = createSpanQueue(opts.maxQueueSpans);
  const maxConcurrent = Math.max(1, opts.maxConcurrent ?? 1);
  const abort = new AbortController();
  const deadlines: (number | undefined)[] = [];
  const idle = createWakeup();
  const progress = createWakeup();
  const highWater = opts.highWaterSpans ?? 4 * opts.maxBatchSpans;
  const maxPushWaitMs = opts.maxPushWaitMs ?? 100;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let due = false;
  let flushing = 0;
  let active = 0;
  let closed = false;
  let shutdownPromise: Promise<void> | undefined;

  const ctx: ExportContext = {
    get deadline() {
      let min: number | undefined;
      for (const d of deadlines) if (d !== undefined && (min === undefined || d < min)) min = d;
      return min;
    },
    signal: abort.signal,
  };

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  function onTimer(): void {
    timer = undefined;
    due = true;
    pump();
  }

  function runExport(batch: SpanData[]): void {
    active++;
    let done: Promise<void>;
    try {
      done = opts.exportBatch(batch, ctx);
    } catch (e) {
      done = Promise.reject(e);
    }
    done.catch((e) => {
      opts.drop("export_internal_error", batch.length);
      opts.onExportError?.(e);
    }).finally(() => {
      active--;
      progress.notify();
      pump();
    });
  }

  function pump(): void {
    const stopped = abort.signal.aborted;
    while (
      !stopped && active < maxConcurrent && queue.size > 0 &&
      (queue.size >= opts.maxBatchSpans || due || flushing > 0)
    ) {
      clearTimer();
      runExport(queue.take(opts.maxBatchSpans));
      opts.queueDepth?.(queue.size);
    }
    if (queue.size === 0) due = false;
    else if (!due && !stopped && timer === undefined) timer = setTimeout(onTimer, opts.scheduleDelayMs);
    if (active === 0 && (queue.size === 0 || stopped)) {
      idle.notify();
    }
  }

  /** Until nothing is queued (or a shutdown stopped exporting) and nothing is in flight, or `deadline`. */
  async function waitIdle(deadline: number | undefined): Promise<void> {
    if (active === 0 && (queue.size === 0 || abort.signal.aborted)) return;
    await idle.wait(deadline === undefined ? undefined : deadline - Date.now());
  }

  /** Until an export finishes, at most `maxPushWaitMs`. */
  function waitProgress(): Promise<void> {
    return progress.wait(maxPushWaitMs);
  }

  async function flush(deadline?: number): Promise<void> {
    flushing++;
    deadlines.push(deadline);
    try {
      pump();
      await waitIdle(deadline);
    } finally {
      flushing--;
      deadlines.splice(deadlines.indexOf(deadline), 1);
    }
  }

  return {
    push(spans) {
      if (spans.length === 0) return;
      if (closed) {
        opts.drop("export_shutdown", spans.length);
        return;
      }
      const taken = queue.push(spans);
      if (taken < spans.length) opts.drop("export_queue_full", spans.length - taken);
      opts.queueDepth?.(queue.size);
      if (queue.size >= opts.maxBatchSpans || timer === undefined) pump();
      if (queue.size >= highWater && active > 0 && (opts.isHealthy?.() ?? true)) return waitProgress();
    },
    flush,
    shutdown(deadline) {
      shutdownPromise ??= (async () => {
        closed = true;
        await flush(deadline);
        clearTimer();
        if (active > 0) {
          abort.abort();
          await waitIdle(undefined);
        }
        const left = queue.clear();
        if (left) opts.drop("export_shutdown", left);
        opts.queueDepth?.(0);
      })();
      return shutdownPromise;
    },
    get queued() {
      return queue.size;
    },
    get active() {
      return active;
    },
  };
}
