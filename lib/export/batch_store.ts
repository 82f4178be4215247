/**
 * Holding encoded batches until they are sent: in memory, oldest first, and
 * (with a spool) on disk. The store counts what memory holds — spans and
 * encoded bytes, requests in flight from memory included — so the exporter
 * can bound it, and hands out the next batch to send: the spool first (it
 * holds the oldest), then memory.
 * @module
 */
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import type { EncodedBatch, Spool, SpoolRef } from "./spool.ts";

/** One batch held: in memory (`batch`) or in the spool (`file`). */
export interface HeldBatch {
  /** Order of encoding; kept across restarts by the spool. */
  readonly seq: number;
  readonly spans: number;
  /** Encoded bytes (memory) or file bytes (spool). */
  readonly bytes: number;
  batch?: EncodedBatch;
  file?: SpoolRef;
  /** Sends tried so far. */
  attempts: number;
}

/** Options of {@linkcode createBatchStore}. */
export interface BatchStoreOptions {
  spool?: Spool;
  counters: Counters;
  logger: Logger;
  /** Told after batches moved to the spool (the sender may go on, the exporter may be idle). */
  onChange(): void;
}

/** Encoded batches waiting to be sent or being sent. */
export interface BatchStore {
  readonly spool?: Spool;
  /** Spans of batches in memory, those in flight included. */
  readonly spans: number;
  /** Encoded bytes of batches in memory, those in flight included. */
  readonly bytes: number;
  /** Whether nothing waits to be sent, in memory or in the spool. */
  readonly empty: boolean;
  /** Batches waiting in memory (not those in flight). */
  readonly waiting: number;
  /** Whether a move to the spool is under way. */
  readonly writing: boolean;
  /** Hold a freshly encoded batch in memory. */
  add(batch: EncodedBatch): HeldBatch;
  /** The next batch to send (taken out of the queue): the spool first, then memory. */
  next(): HeldBatch | undefined;
  /** The encoded batch of `held`, read from the spool if need be; undefined for a damaged file (counted, removed). */
  load(held: HeldBatch): Promise<EncodedBatch | undefined>;
  /** Put a batch that was not delivered back in its place, to be sent again. */
  requeue(held: HeldBatch): void;
  /** Forget a delivered (or refused) batch: free its memory, delete its file. */
  finish(held: HeldBatch): Promise<void>;
  /** Move batches waiting in memory (all by default) to the spool; without a spool, nothing. */
  toSpool(batches?: HeldBatch[]): Promise<void>;
  /** Drop every batch waiting in memory; returns their spans. */
  clear(): number;
}

/** An empty store; its sequence numbers continue the spool's. */
export function createBatchStore(o: BatchStoreOptions): BatchStore {
  const { spool, counters, logger } = o;
  const memory: HeldBatch[] = []; // oldest (lowest seq) first
  let nextSeq = spool?.nextSeq ?? 0;
  let spans = 0;
  let bytes = 0;
  let writes = 0;

  function insert(held: HeldBatch): void {
    let at = memory.length;
    while (at > 0 && memory[at - 1].seq > held.seq) at--;
    memory.splice(at, 0, held);
  }

  function release(held: HeldBatch): void {
    if (!held.batch) return;
    spans -= held.spans;
    bytes -= held.bytes;
    held.batch = undefined;
  }

  async function discard(held: HeldBatch, why: string): Promise<void> {
    counters.inc("spool_corrupt_files");
    counters.drop("spool_corrupt", held.spans);
    logger.warn("spool: skipping a damaged batch file", { dir: spool!.dir, seq: held.seq, why, spans: held.spans });
    await spool!.remove(held.file!);
  }

  async function write(held: HeldBatch): Promise<void> {
    const i = memory.indexOf(held);
    if (i < 0 || !held.batch) return; // sent or spooled meanwhile
    memory.splice(i, 1);
    let stored = false;
    try {
      stored = await spool!.write(held.seq, held.batch);
    } catch (e) {
      logger.warnLimited("spool_write", "spool: cannot write a batch; keeping it in memory", {
        dir: spool!.dir,
        error: e,
      });
      insert(held); // still bounded by the memory limits
      return;
    }
    release(held);
    if (!stored) {
      counters.inc("export_batches_failed");
      counters.drop("spool_full", held.spans);
      logger.warnLimited("spool_full", "spool full; batch dropped", {
        dir: spool!.dir,
        maxBytes: spool!.maxBytes,
        spans: held.spans,
      });
    }
  }

  return {
    spool,
    get spans() {
      return spans;
    },
    get bytes() {
      return bytes;
    },
    get empty() {
      return memory.length === 0 && (spool?.files ?? 0) === 0;
    },
    get waiting() {
      return memory.length;
    },
    get writing() {
      return writes > 0;
    },
    add(batch) {
      const held: HeldBatch = { seq: nextSeq++, spans: batch.spans, bytes: batch.body.length, batch, attempts: 0 };
      spans += held.spans;
      bytes += held.bytes;
      insert(held);
      return held;
    },
    next() {
      const ref = spool?.take();
      if (ref) return { seq: ref.seq, spans: ref.spans, bytes: ref.bytes, file: ref, attempts: 0 };
      return memory.shift();
    },
    async load(held) {
      if (held.batch) return held.batch;
      const read = await spool!.read(held.file!);
      if (read.ok) return read.batch;
      await discard(held, read.why);
      return undefined;
    },
    requeue(held) {
      if (held.file) spool!.release(held.file);
      else insert(held);
    },
    async finish(held) {
      release(held);
      if (held.file) await spool!.remove(held.file);
    },
    async toSpool(batches = [...memory]) {
      if (!spool) return;
      writes++;
      try {
        for (const held of batches) await write(held);
      } finally {
        writes--;
        o.onChange();
      }
    },
    clear() {
      const n = spans;
      for (const held of memory.splice(0)) release(held);
      return n;
    },
  };
}
