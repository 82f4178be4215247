/**
 * Batching: spans wait in a queue and leave in batches of at most
 * `maxBatchSpans` — a full batch at once, a partial one `scheduleDelayMs`
 * after it started waiting, or at once while the exporter is in a hurry (a
 * flush or shutdown) — and each batch is encoded as it leaves. Bounds are the
 * exporter's business: the batcher takes what it is given.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";
import { createSpanQueue } from "./span_queue.ts";
import type { EncodedBatch } from "./spool.ts";

/** Options of {@linkcode createBatcher}. */
export interface BatcherOptions {
  maxBatchSpans: number;
  scheduleDelayMs: number;
  /** Encode a batch; a throw is reported to `onEncodeError` and the batch is gone. */
  encode(spans: SpanData[]): EncodedBatch | Promise<EncodedBatch>;
  /** Takes each encoded batch; awaited before the next is encoded. */
  deliver(batch: EncodedBatch): void | Promise<void>;
  /** A batch of `spans` spans failed to encode. */
  onEncodeError(error: unknown, spans: number): void;
  /** Whether partial batches leave without waiting (a flush or a shutdown is under way). */
  hurry(): boolean;
  /** Told when encoding stops (everything that may leave has left). */
  onIdle(): void;
}

/** Spans waiting for their batch. */
export interface Batcher {
  /** Spans queued or being encoded. */
  readonly spans: number;
  /** Encoded bytes per span, learned from what was encoded (to estimate what `spans` will take). */
  readonly bytesPerSpan: number;
  /** Whether a batch is being encoded or delivered. */
  readonly busy: boolean;
  /** Queue `spans` (copied); a full batch leaves at once, a partial one starts its delay. */
  push(spans: readonly SpanData[]): void;
  /** Encode and deliver every batch that may leave now; resolves when done (at once if already running). */
  run(): Promise<void>;
  /** No more delays: only {@linkcode Batcher.run} makes batches leave from now on. */
  stop(): void;
  /** Drop every queued span; returns how many. */
  clear(): number;
}

/** An empty batcher. */
export function createBatcher(o: BatcherOptions): Batcher {
  const queue = createSpanQueue(Number.MAX_SAFE_INTEGER);
  let encodingSpans = 0;
  let bytesPerSpan = 200;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let due = false; // a partial batch has waited its delay
  let running = false;
  let stopped = false;

  function schedule(): void {
    if (queue.size === 0 || due || timer !== undefined || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      due = true;
      void run();
    }, o.scheduleDelayMs);
  }

  function clearTimer(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  async function run(): Promise<void> {
    if (running) return;
    running = true;
    try {
      while (queue.size > 0 && (queue.size >= o.maxBatchSpans || due || o.hurry())) {
        clearTimer();
        const spans = queue.take(o.maxBatchSpans);
        due = false; // the next partial batch waits its own delay
        encodingSpans = spans.length;
        let encoded: EncodedBatch;
        try {
          encoded = await o.encode(spans);
        } catch (e) {
          encodingSpans = 0;
          o.onEncodeError(e, spans.length);
          continue;
        }
        encodingSpans = 0;
        bytesPerSpan = bytesPerSpan * 0.8 + (encoded.body.length / Math.max(1, spans.length)) * 0.2;
        await o.deliver(encoded);
      }
      if (queue.size === 0) due = false;
    } finally {
      running = false;
      schedule();
      o.onIdle();
    }
  }

  return {
    get spans() {
      return queue.size + encodingSpans;
    },
    get bytesPerSpan() {
      return bytesPerSpan;
    },
    get busy() {
      return running;
    },
    push(spans) {
      queue.push(spans);
      if (queue.size >= o.maxBatchSpans) void run();
      else schedule();
    },
    run,
    stop() {
      stopped = true;
      clearTimer();
    },
    clear() {
      return queue.clear();
    },
  };
}
