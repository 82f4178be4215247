/**
 * The pull-driven stream every ring-buffer source shares: rings are read only
 * when the consumer asks for spans (`highWaterMark: 0`, no buffering in JS),
 * so the kernel ring is the one bounded queue and a slow consumer shows up as
 * counted reserve failures, not memory. The source supplies the per-source
 * parts as hooks: reading one batch, periodic work, how long to wait when
 * idle, and what to do at close.
 *
 * Close order (stop, cancel or a failure): no wait in flight on the fds, then
 * {@linkcode RingDrainHooks.beforeDetach} (stats: the maps go with the
 * object), detach and close the object so nothing new arrives, deliver what
 * is still in the rings, and only then unmap them. `cancel` discards what is
 * left; `stop` delivers it and closes the stream. A failure errors the stream
 * and rejects `done`.
 * @module
 */
import type { SpanData } from "../core/span_data.ts";
import type { LogFields, Logger } from "../telemetry/log.ts";
import type { RingWaiter } from "./ring_wait.ts";

/** The per-source parts of {@linkcode createRingDrainStream}. */
export interface RingDrainHooks {
  /** The source's name in the log line of a failure ("http source" logs "http source failed"). */
  label: string;
  /** Extra fields of that log line. */
  logFields?: LogFields;
  /** Where the failure is logged. */
  logger: Logger;
  /** The waiter over the source's ring fds; closed first at stop. */
  waiter: RingWaiter;
  /** While data keeps coming, yield to timers and I/O with a zero wait at least this often, ms; unset: never. */
  yieldEveryMs?: number;
  /** Work at the top of every turn (stats, clock resync); return `true` to stop as {@linkcode RingDrainStream.stop} does. */
  periodic(): boolean | void;
  /** Read one batch from the rings: the spans built (may be empty). */
  drain(): SpanData[];
  /** After an empty batch: `true` when records were read (all skipped), so read again without waiting. */
  readAgain?(): boolean;
  /** How long to wait for a wakeup when nothing is ready, ms. */
  idleWaitMs(): number;
  /** At close, once no wait is in flight and before {@linkcode RingDrainHooks.detach}: read what goes with the object. */
  beforeDetach?(): void;
  /** Detach and close the object: nothing new arrives; the rings stay mapped. */
  detach(): Promise<void>;
  /** After detach: the batches still in the rings, produced lazily (empty ones are skipped). */
  drainRest(): Iterable<SpanData[]>;
  /** Last step of close, run even when a step before failed: unmap the rings. */
  closeRings(): void;
}

/** A running ring drain: the span stream, its end and a graceful stop. */
export interface RingDrainStream {
  /** Span batches, read from the rings on each pull. */
  spans: ReadableStream<SpanData[]>;
  /** Resolves when the stream has closed; rejects with the failure that ended it. */
  done: Promise<void>;
  /** Stop reading, deliver what is still in the rings, close. Never rejects (see `done`). */
  stop(): Promise<void>;
}

/** The pull-driven span stream over a source's rings, with the close order above. */
export function createRingDrainStream(hooks: RingDrainHooks): RingDrainStream {
  const { waiter } = hooks;
  let lastYield = performance.now();
  let stopping = false;
  let finished = false;
  let cancelled = false;
  let failure: unknown;
  let pulling: Promise<void> | undefined;
  let controller!: ReadableStreamDefaultController<SpanData[]>;
  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {}); // observed through `done` by the caller

  async function finish(): Promise<void> {
    if (finished) return;
    finished = true;
    let error = failure;
    try {
      await waiter.close();
      hooks.beforeDetach?.();
      await hooks.detach();
      for (const batch of hooks.drainRest()) if (batch.length && !cancelled) controller.enqueue(batch);
    } catch (e) {
      error ??= e;
    } finally {
      hooks.closeRings();
    }
    if (!cancelled) {
      if (error !== undefined) controller.error(error);
      else controller.close();
    }
    if (error !== undefined) rejectDone(error);
    else resolveDone();
  }

  async function pullOnce(): Promise<void> {
    for (;;) {
      if (stopping) return finish();
      if (hooks.periodic()) {
        stopping = true;
        continue;
      }
      if (hooks.yieldEveryMs !== undefined && performance.now() - lastYield > hooks.yieldEveryMs) {
        lastYield = performance.now();
        await waiter.wait(0);
      }
      const batch = hooks.drain();
      if (batch.length) {
        controller.enqueue(batch);
        return;
      }
      if (hooks.readAgain?.()) continue;
      await waiter.wait(hooks.idleWaitMs());
      lastYield = performance.now();
    }
  }

  const spans = new ReadableStream<SpanData[]>({
    start(c) {
      controller = c;
    },
    pull() {
      pulling = pullOnce().catch((e) => {
        hooks.logger.error(`${hooks.label} failed`, { ...hooks.logFields, error: e });
        failure = e;
        stopping = true;
        return finish();
      }).finally(() => {
        pulling = undefined;
      });
      return pulling;
    },
    cancel() {
      stopping = true;
      cancelled = true;
      return pulling ? pulling.then(() => finish()) : finish();
    },
  }, { highWaterMark: 0 });

  return {
    spans,
    done,
    async stop() {
      stopping = true;
      if (pulling) await pulling;
      await finish();
      await done.catch(() => {});
    },
  };
}
