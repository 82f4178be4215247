/**
 * The disk spool: encoded export batches that could not be sent (collector
 * down, agent stopping) kept as files, so they survive an agent restart and
 * are sent, oldest first, once the collector answers again.
 *
 * One file per batch, named by a sequence number that keeps growing across
 * restarts (`0000000000000042.otlp`), at most {@linkcode MAX_SPOOL_SEQ}; a
 * name above that is not the spool's and is moved to `quarantine/`
 * (`spool_foreign_files`), and a number is never written twice. A file is written under a temporary
 * name, synced and renamed, so a crash never leaves a half-written batch
 * under a final name. Each file starts with a 32-byte header:
 *
 * | offset | size | field                                           |
 * |-------:|-----:|-------------------------------------------------|
 * |      0 |    8 | magic `SPNPROBE`                                |
 * |      8 |    1 | format version (1)                              |
 * |      9 |    1 | flags: bit 0 gzip, bit 1 OTLP/JSON (else proto) |
 * |     10 |    2 | reserved (0)                                    |
 * |     12 |    4 | span count (u32 LE)                             |
 * |     16 |    4 | payload length (u32 LE)                         |
 * |     20 |    4 | CRC-32 of the payload                           |
 * |     24 |    4 | CRC-32 of bytes 0–23                            |
 * |     28 |    4 | reserved (0)                                    |
 *
 * followed by the payload: the request body exactly as it is POSTed.
 * Files that are truncated, have a bad magic, header or payload checksum,
 * and leftover temporary files are counted (`spool_corrupt_files`, and
 * their spans as dropped `spool_corrupt` when the header is readable),
 * deleted, and skipped. The spool is capped by total bytes; a batch that
 * does not fit is refused (the caller drops it as `spool_full`).
 * @module
 */
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import type { OtlpProtocol } from "./otlp_send.ts";

/** An encoded export request. */
export interface EncodedBatch {
  /** The request body as sent (already gzip-compressed when `gzip`). */
  body: Uint8Array;
  /** Spans in it. */
  spans: number;
  protocol: OtlpProtocol;
  gzip: boolean;
}

/** One batch in the spool. */
export interface SpoolRef {
  readonly seq: number;
  readonly spans: number;
  /** File size, header included. */
  readonly bytes: number;
}

/** Options of {@linkcode openSpool}. */
export interface SpoolOptions {
  dir: string;
  /** Total bytes of spool files at most (default 256 MiB). */
  maxBytes?: number;
  /** Sync file data before the rename (default true; tests may skip). */
  sync?: boolean;
  counters: Counters;
  logger: Logger;
}

/** What {@linkcode Spool.read} found. */
export type SpoolRead = { ok: true; batch: EncodedBatch } | { ok: false; why: string };

/** An open spool folder. */
export interface Spool {
  readonly dir: string;
  readonly maxBytes: number;
  /** Batches in the spool, those being sent included. */
  readonly files: number;
  readonly spans: number;
  readonly bytes: number;
  /** The next sequence number (greater than every file's). */
  readonly nextSeq: number;
  /** The oldest batch not being sent, marked as being sent; undefined when none. */
  take(): SpoolRef | undefined;
  /** Give back a batch from {@linkcode Spool.take} (to retry later). */
  release(ref: SpoolRef): void;
  /** Store a batch under `seq`; false when it does not fit the byte cap. Throws on I/O errors. */
  write(seq: number, batch: EncodedBatch): Promise<boolean>;
  /** Read and verify a batch. */
  read(ref: SpoolRef): Promise<SpoolRead>;
  /** Delete a batch (sent, refused, or corrupt). */
  remove(ref: SpoolRef): Promise<void>;
}

const MAGIC = new TextEncoder().encode("SPNPROBE");
const HEADER = 32;
const VERSION = 1;
const NAME = /^(\d{16})\.otlp$/;
/** The temporary name of a batch being written (`.NNNN.otlp.PID.N.tmp`). */
const TMP_NAME = /^\.\d{16}\.otlp\.\d+\.\d+\.tmp$/;
/**
 * The highest sequence number the spool writes: 2^52 - 1, so `seq + 1` is
 * always exact in a `number` (above 2^53 neighbours collapse onto one value
 * and batches would overwrite each other). At one batch per microsecond that
 * lasts 142 years; a name above it was not written by spanprobe.
 */
export const MAX_SPOOL_SEQ = 2 ** 52 - 1;
/** Where files with names the spool did not write are moved (never read, never deleted). */
export const QUARANTINE_DIR = "quarantine";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zlib and gzip compute it). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A spool file's bytes for `batch`. */
export function encodeSpoolFile(batch: EncodedBatch): Uint8Array {
  const out = new Uint8Array(HEADER + batch.body.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[8] = VERSION;
  out[9] = (batch.gzip ? 1 : 0) | (batch.protocol === "http/json" ? 2 : 0);
  view.setUint32(12, batch.spans, true);
  view.setUint32(16, batch.body.length, true);
  view.setUint32(20, crc32(batch.body), true);
  view.setUint32(24, crc32(out.subarray(0, 24)), true);
  out.set(batch.body, HEADER);
  return out;
}

/** What a header says, or why it cannot be trusted. */
export type SpoolHeader =
  | { ok: true; spans: number; length: number; crc: number; gzip: boolean; protocol: OtlpProtocol }
  | { ok: false; why: string };

/** Parses and checks a spool file's header. */
export function parseSpoolHeader(bytes: Uint8Array): SpoolHeader {
  if (bytes.length < HEADER) return { ok: false, why: `truncated header (${bytes.length} bytes)` };
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return { ok: false, why: "not a spool file" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER);
  if (view.getUint32(24, true) !== crc32(bytes.subarray(0, 24))) return { ok: false, why: "header checksum mismatch" };
  if (bytes[8] !== VERSION) return { ok: false, why: `unknown format version ${bytes[8]}` };
  return {
    ok: true,
    gzip: (bytes[9] & 1) !== 0,
    protocol: bytes[9] & 2 ? "http/json" : "http/protobuf",
    spans: view.getUint32(12, true),
    length: view.getUint32(16, true),
    crc: view.getUint32(20, true),
  };
}

/** Decodes a whole spool file. */
export function decodeSpoolFile(bytes: Uint8Array): SpoolRead {
  const h = parseSpoolHeader(bytes);
  if (!h.ok) return h;
  if (bytes.length !== HEADER + h.length) {
    return { ok: false, why: `size ${bytes.length}, header says ${HEADER + h.length}` };
  }
  const body = bytes.subarray(HEADER);
  if (crc32(body) !== h.crc) return { ok: false, why: "payload checksum mismatch" };
  return { ok: true, batch: { body, spans: h.spans, protocol: h.protocol, gzip: h.gzip } };
}

function fileName(seq: number): string {
  return `${String(seq).padStart(16, "0")}.otlp`;
}

async function readHeader(path: string): Promise<Uint8Array> {
  const f = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(HEADER);
    let off = 0;
    while (off < HEADER) {
      const n = await f.read(buf.subarray(off));
      if (n === null) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    f.close();
  }
}

/**
 * Opens (creating if needed) a spool folder: deletes leftover temporary
 * files, checks every batch's header and size (bad ones are counted and
 * deleted), and returns the spool with what it recovered, oldest first.
 * Counts `spool_batches_recovered` and `spool_spans_recovered` (the spans
 * of every file whose header could be read, damaged ones included: those
 * are also counted as dropped, `spool_corrupt`).
 */
export async function openSpool(o: SpoolOptions): Promise<Spool> {
  const { dir, counters, logger } = o;
  const maxBytes = o.maxBytes ?? 256 * 1024 * 1024;
  const sync = o.sync ?? true;
  await Deno.mkdir(dir, { recursive: true });
  const refs: SpoolRef[] = []; // oldest first, those being sent included
  const busy = new Set<SpoolRef>();
  let spans = 0;
  let bytes = 0;
  let nextSeq = 0;
  let tmpCounter = 0;

  function publish(): void {
    counters.gauge("spool_files", refs.length);
    counters.gauge("spool_spans", spans);
    counters.gauge("spool_bytes", bytes);
  }

  async function discard(name: string, why: string, lostSpans?: number): Promise<void> {
    counters.inc("spool_corrupt_files");
    if (lostSpans) counters.drop("spool_corrupt", lostSpans);
    logger.warn("spool: skipping a damaged batch file", { file: `${dir}/${name}`, why, spans: lostSpans });
    try {
      await Deno.remove(`${dir}/${name}`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        logger.warn("spool: cannot delete a damaged file", { file: `${dir}/${name}`, error: e });
      }
    }
  }

  /** A batch-like name the spool cannot have written: moved aside, counted, never read or sent. */
  async function quarantine(name: string, why: string): Promise<void> {
    counters.inc("spool_foreign_files");
    const to = `${dir}/${QUARANTINE_DIR}/${name}`;
    try {
      await Deno.mkdir(`${dir}/${QUARANTINE_DIR}`, { recursive: true });
      await Deno.rename(`${dir}/${name}`, to);
      logger.warn("spool: a file the agent did not write was moved aside", { file: `${dir}/${name}`, to, why });
    } catch (e) {
      logger.warn("spool: a file the agent did not write is ignored", { file: `${dir}/${name}`, why, error: e });
    }
  }

  const found: { seq: number; name: string }[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    const m = NAME.exec(entry.name);
    if (m) {
      const seq = Number(m[1]);
      if (seq > MAX_SPOOL_SEQ) await quarantine(entry.name, `sequence number above ${MAX_SPOOL_SEQ}`);
      else found.push({ seq, name: entry.name });
    } else if (TMP_NAME.test(entry.name)) {
      await discard(entry.name, "unfinished write (the agent stopped while writing)");
    }
  }
  found.sort((a, b) => a.seq - b.seq);
  for (const f of found) {
    nextSeq = Math.max(nextSeq, f.seq + 1);
    const path = `${dir}/${f.name}`;
    let size: number;
    let head: Uint8Array;
    try {
      size = (await Deno.stat(path)).size;
      head = await readHeader(path);
    } catch (e) {
      logger.warn("spool: cannot read a batch file; leaving it", { file: path, error: e });
      continue;
    }
    const h = parseSpoolHeader(head);
    if (!h.ok) {
      await discard(f.name, h.why);
      continue;
    }
    if (size !== HEADER + h.length) {
      // a partial write under the final name (e.g. the machine lost power before the data reached disk):
      // its spans were found (recovered) and are lost (dropped), so the accounting balances
      counters.inc("spool_spans_recovered", h.spans);
      await discard(f.name, `size ${size}, header says ${HEADER + h.length}`, h.spans);
      continue;
    }
    refs.push({ seq: f.seq, spans: h.spans, bytes: size });
    spans += h.spans;
    bytes += size;
  }
  if (refs.length) {
    counters.inc("spool_batches_recovered", refs.length);
    counters.inc("spool_spans_recovered", spans);
    logger.info("spool: batches from an earlier run will be sent", { dir, batches: refs.length, spans, bytes });
  }
  publish();

  function forget(ref: SpoolRef): boolean {
    const i = refs.indexOf(ref);
    if (i < 0) return false;
    refs.splice(i, 1);
    busy.delete(ref);
    spans -= ref.spans;
    bytes -= ref.bytes;
    publish();
    return true;
  }

  return {
    dir,
    maxBytes,
    get files() {
      return refs.length;
    },
    get spans() {
      return spans;
    },
    get bytes() {
      return bytes;
    },
    get nextSeq() {
      return nextSeq;
    },
    take() {
      for (const r of refs) {
        if (!busy.has(r)) {
          busy.add(r);
          return r;
        }
      }
      return undefined;
    },
    release(ref) {
      busy.delete(ref);
    },
    async write(seq, batch) {
      // a name can never be reused: two batches under one file would lose one silently
      if (!Number.isSafeInteger(seq) || seq < 0 || seq > MAX_SPOOL_SEQ) {
        throw new Error(`spool: sequence number ${seq} is outside 0..${MAX_SPOOL_SEQ}`);
      }
      if (refs.some((r) => r.seq === seq)) throw new Error(`spool: batch ${fileName(seq)} already exists`);
      const data = encodeSpoolFile(batch);
      if (bytes + data.length > maxBytes) return false;
      const ref: SpoolRef = { seq, spans: batch.spans, bytes: data.length };
      // reserve the room first: writes run concurrently
      let at = refs.length;
      while (at > 0 && refs[at - 1].seq > seq) at--;
      refs.splice(at, 0, ref);
      busy.add(ref); // not readable until renamed
      spans += ref.spans;
      bytes += ref.bytes;
      nextSeq = Math.max(nextSeq, seq + 1);
      const tmp = `${dir}/.${fileName(seq)}.${Deno.pid}.${tmpCounter++}.tmp`;
      try {
        const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
        try {
          let off = 0;
          while (off < data.length) off += await f.write(data.subarray(off));
          if (sync) await f.syncData();
        } finally {
          f.close();
        }
        await Deno.rename(tmp, `${dir}/${fileName(seq)}`);
      } catch (e) {
        forget(ref);
        await Deno.remove(tmp).catch(() => {});
        throw e;
      }
      busy.delete(ref);
      counters.inc("spool_batches_written");
      publish();
      return true;
    },
    async read(ref) {
      let data: Uint8Array;
      try {
        data = await Deno.readFile(`${dir}/${fileName(ref.seq)}`);
      } catch (e) {
        return { ok: false, why: `cannot read: ${(e as Error).message}` };
      }
      return decodeSpoolFile(data);
    },
    async remove(ref) {
      if (!forget(ref)) return;
      try {
        await Deno.remove(`${dir}/${fileName(ref.seq)}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) {
          logger.warnLimited("spool_remove", "spool: cannot delete a sent batch", { seq: ref.seq, error: e });
        }
      }
    },
  };
}
