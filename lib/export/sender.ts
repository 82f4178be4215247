/**
 * Sending held batches, with retry and a health state: at most
 * `maxConcurrent` sends at once, oldest batch first. A retryable failure
 * (the destination did not answer, or asked to wait) marks the destination
 * unhealthy, puts the batch back at the head of the queue and blocks every
 * send until the backoff (or the server's `Retry-After`) has passed; the
 * first success makes it healthy again. Anything else drops the batch, counted
 * with the reason the exporter gives it. A timeout is retried like any
 * retryable failure and also counted as `export_timeouts`: the destination may
 * have the batch anyway (at-least-once). See docs/reliability.md.
 * @module
 */
import { backoffDelayMs, type BackoffOptions } from "../core/backoff.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import type { BatchStore, HeldBatch } from "./batch_store.ts";
import { createExportHealth, createRefusalLog } from "./export_health.ts";
import type { OtlpSendResult } from "./otlp_send.ts";
import type { EncodedBatch } from "./spool.ts";

/** Options of {@linkcode createSender}. */
export interface SenderOptions {
  store: BatchStore;
  /** Send one encoded batch once; never throws (a throw is counted as `export_internal_error`). */
  send(batch: EncodedBatch, signal: AbortSignal, deadline: number | undefined): Promise<OtlpSendResult>;
  /** The drop reason of a failed send. */
  dropReason(result: OtlpSendResult): string;
  maxConcurrent: number;
  /** Tries per batch before it is dropped. */
  maxAttempts: number;
  backoff: BackoffOptions;
  /** Longest `Retry-After` honored (longer ones are cut to this). */
  maxRetryAfterMs: number;
  /** The earliest deadline a flush or shutdown is waiting for, passed to `send`. */
  deadline(): number | undefined;
  /** What sends go to, in log messages: "OTLP", "file". */
  name: string;
  /** Fields naming the destination in logs (e.g. `{ endpoint }`). */
  target: Record<string, unknown>;
  /** Spans held in total, for logs. */
  heldSpans(): number;
  counters: Counters;
  logger: Logger;
  /** Told after each send settled (and after batches moved to the spool on a failure). */
  onSettled(): void;
}

/** The sending side of an exporter. */
export interface Sender {
  /** Whether the last answer was a success (or a refusal: the destination answers). */
  readonly healthy: boolean;
  /** Why the destination is failing now (not answering, or refusing batches); `undefined` after a success. */
  failure(): string | undefined;
  /** Sends under way. */
  readonly inflight: number;
  /** Start sends while there is room, something to send, and no backoff under way. */
  pump(): void;
  /** No more sends: cancel those in flight (their batches go back to the store) and the backoff timer. */
  stop(): void;
}

/** A sender, idle until {@linkcode Sender.pump}. */
export function createSender(o: SenderOptions): Sender {
  const { store, counters, logger } = o;
  const inflight = new Set<HeldBatch>();
  const abort = new AbortController();
  let healthy = true;
  let unhealthySince = 0;
  let failures = 0; // consecutive retryable failures
  let blockedUntil = 0; // no new request before this (epoch ms)
  let blockTimer: ReturnType<typeof setTimeout> | undefined;
  const health = createExportHealth();
  const logRefusal = createRefusalLog(logger, o.name);

  function pump(): void {
    while (!abort.signal.aborted && inflight.size < o.maxConcurrent) {
      const wait = blockedUntil - Date.now();
      if (wait > 0) {
        blockTimer ??= setTimeout(() => {
          blockTimer = undefined;
          pump();
        }, wait);
        return;
      }
      const held = store.next();
      if (!held) return;
      inflight.add(held);
      void sendOne(held).catch((e) => {
        logger.error(`${o.name} export crashed`, { error: e });
        counters.drop("export_internal_error", held.spans);
        void store.finish(held);
      }).finally(() => {
        inflight.delete(held);
        o.onSettled();
      });
    }
  }

  async function sendOne(held: HeldBatch): Promise<void> {
    const batch = await store.load(held);
    if (!batch) return; // a damaged spool file, counted and removed
    held.attempts++;
    const result = await o.send(batch, abort.signal, o.deadline());
    if (result.timedOut) timedOut(held);
    if (result.ok) return await delivered(held, result);
    if (result.error === "aborted" && abort.signal.aborted) {
      // stop() gave up on it: back to the store, spooled or dropped by the exporter's shutdown
      held.attempts--;
      store.requeue(held);
      return;
    }
    if (!result.retryable || held.attempts >= o.maxAttempts) return await failed(held, result);
    await retryLater(held, result);
  }

  /**
   * A send without an answer in time: counted (`export_timeouts`). The
   * destination may have the batch anyway, so retrying it — with the same
   * backoff as any retry — may deliver it twice: at-least-once.
   */
  function timedOut(held: HeldBatch): void {
    counters.inc("export_timeouts");
    logger.warnLimited(
      `${o.name.toLowerCase()}_timeout`,
      `${o.name} export timed out; it is retried after a backoff and may arrive twice (at-least-once)`,
      { ...o.target, spans: held.spans, attempt: held.attempts, timeouts: counters.get("export_timeouts") },
    );
  }

  async function delivered(held: HeldBatch, result: OtlpSendResult): Promise<void> {
    if (!healthy) {
      logger.info(`${o.name} endpoint answers again; sending what was held`, {
        ...o.target,
        outageMs: Date.now() - unhealthySince,
        heldSpans: o.heldSpans(),
        spooledSpans: store.spool?.spans,
        droppedSoFar: counters.dropped(),
      });
    }
    healthy = true;
    health.ok();
    failures = 0;
    const rejected = Math.min(held.spans, result.rejectedSpans ?? 0);
    counters.inc("export_batches_ok");
    counters.inc("spans_exported", held.spans - rejected);
    if (rejected) counters.drop("export_rejected", rejected);
    if (rejected || result.errorMessage) {
      logger.warnLimited(`${o.name.toLowerCase()}_partial`, `${o.name} endpoint rejected spans`, {
        rejected,
        message: result.errorMessage,
      });
    }
    await store.finish(held);
  }

  async function failed(held: HeldBatch, result: OtlpSendResult): Promise<void> {
    if (!result.retryable) {
      healthy = true; // the destination answers; it refused this batch
      failures = 0;
    }
    health.failed(result.status ? `refused: http ${result.status}` : `failed: ${result.error}`);
    counters.inc("export_batches_failed");
    counters.drop(o.dropReason(result), held.spans);
    const fields = {
      ...o.target,
      status: result.status || undefined,
      error: result.error,
      message: result.errorMessage,
      spans: held.spans,
      attempts: held.attempts,
    };
    // a refusal (4xx other than 429) is an error, logged once per status; a retry limit reached, a warning
    if (!result.retryable && result.status) logRefusal({ ...fields, status: result.status });
    else logger.warnLimited(`${o.name.toLowerCase()}_failed`, `${o.name} export failed; spans dropped`, fields);
    await store.finish(held);
  }

  /** Wait, then try again, this batch first; meanwhile what memory holds goes to the spool. */
  async function retryLater(held: HeldBatch, result: OtlpSendResult): Promise<void> {
    const wasHealthy = healthy;
    if (wasHealthy) unhealthySince = Date.now();
    healthy = false;
    health.failed(result.status ? `not answering: http ${result.status}` : `not answering: ${result.error}`);
    failures++;
    const wait = result.retryAfterMs !== undefined
      ? Math.min(result.retryAfterMs, o.maxRetryAfterMs)
      : backoffDelayMs(failures, o.backoff);
    blockedUntil = Math.max(blockedUntil, Date.now() + wait);
    counters.inc("export_batches_retried");
    const fields = {
      ...o.target,
      status: result.status || undefined,
      error: result.error,
      retryAfterMs: result.retryAfterMs,
      waitMs: wait,
      heldSpans: o.heldSpans(),
      spooledSpans: store.spool?.spans,
    };
    if (wasHealthy) logger.warn(`${o.name} endpoint not answering; holding spans and retrying`, fields);
    else logger.debug(`${o.name} export retry`, { ...fields, attempt: held.attempts });
    store.requeue(held);
    await store.toSpool();
  }

  return {
    get healthy() {
      return healthy;
    },
    get inflight() {
      return inflight.size;
    },
    failure: () => health.failure,
    pump,
    stop() {
      if (blockTimer !== undefined) clearTimeout(blockTimer);
      blockTimer = undefined;
      abort.abort();
    },
  };
}
