/**
 * Reads a BPF ring buffer directly from its memory mapping, with the
 * kernel's producer/consumer protocol (as libbpf's `ring_buffer__consume`
 * does, without a call per record):
 *
 * - page 0 (read/write): consumer position; page 1 (read-only): producer
 *   position; then the data area, mapped twice in a row so a record that
 *   wraps around is contiguous.
 * - each record has an 8-byte header: length with BUSY (bit 31, still being
 *   written) and DISCARD (bit 30) flags, then the sample, padded to 8 bytes.
 * - positions only grow; the consumer publishes its position after it is
 *   done with a record, which frees the space for the producer.
 *
 * Ordering: positions are read and the consumer position published with
 * Atomics (acquire / release). Record headers are read with Atomics too,
 * except on x86_64, where a plain load already has acquire semantics
 * (TSO: loads are not reordered with other loads, and the data reads depend
 * on the header's value) and `Atomics.load` on a non-shared buffer costs
 * ~3× the whole per-record loop.
 * @module
 */
import type { BpfMap } from "./bpf_object.ts";
import { MAP_TYPE } from "./libbpf.ts";
import { libc, MMAP, mmapFailed, pageSize } from "./libc.ts";

const BUSY = 0x80000000 | 0;
const DISCARD = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HDR = 8;
/** Publish the consumer position at least every this many records within a batch. */
const PUBLISH_EVERY = 64;
/** Plain loads are acquire loads on x86_64. */
const TSO = Deno.build.arch === "x86_64";

/** Called per record with the data area, the sample's offset and length. Must not keep `data`. */
export type RecordHandler = (data: Uint8Array, off: number, len: number) => void;

/** A mapped ring buffer. */
export interface RingReader {
  readonly name: string;
  readonly fd: number;
  /** Ring size in bytes. */
  readonly size: number;
  /** Consume up to `max` records, calling `onRecord` for each; returns how many were consumed. */
  drain(onRecord: RecordHandler, max: number): number;
  /** Bytes written by the producer and not yet consumed. */
  pending(): number;
  /** Unmap. Idempotent; the caller guarantees no drain or wait is in flight. */
  close(): void;
}

/** Maps ring buffer `map` for reading. Throws when it is not a ring buffer or mapping fails. */
export function openRingReader(map: BpfMap): RingReader {
  if (map.type !== MAP_TYPE.RINGBUF) {
    throw new Error(`map "${map.name}" is not a BPF_MAP_TYPE_RINGBUF (type ${map.type})`);
  }
  const size = map.maxEntries;
  if (size > 1 << 30) throw new Error(`ring buffer "${map.name}" is larger than 1 GiB`);
  const page = pageSize();
  const c = libc();
  const consPtr = c.mmap(null, BigInt(page), MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.MAP_SHARED, map.fd, 0n);
  if (mmapFailed(consPtr)) throw new Error(`mmap of ring buffer "${map.name}" (consumer page) failed`);
  const prodLen = page + 2 * size;
  const prodPtr = c.mmap(null, BigInt(prodLen), MMAP.PROT_READ, MMAP.MAP_SHARED, map.fd, BigInt(page));
  if (mmapFailed(prodPtr)) {
    c.munmap(consPtr, BigInt(page));
    throw new Error(`mmap of ring buffer "${map.name}" (data pages) failed`);
  }

  const consBuf = Deno.UnsafePointerView.getArrayBuffer(consPtr!, page);
  const prodBuf = Deno.UnsafePointerView.getArrayBuffer(prodPtr!, prodLen);
  const cons64 = new BigUint64Array(consBuf, 0, 1);
  const prod32 = new Int32Array(prodBuf, 0, 2);
  const data = new Uint8Array(prodBuf, page, 2 * size);
  const data32 = new Int32Array(prodBuf, page, (2 * size) >> 2);
  const mask = size - 1;
  let closed = false;

  /** The producer position (64-bit, read as two halves without tearing). */
  function producerPos(): number {
    for (;;) {
      const hi = Atomics.load(prod32, 1);
      const lo = Atomics.load(prod32, 0) >>> 0;
      if (Atomics.load(prod32, 1) === hi) return hi * 0x100000000 + lo;
    }
  }

  // Positions stay exact as numbers for 2^53 bytes (years at GB/s).
  let cons = Number(Atomics.load(cons64, 0));

  return {
    name: map.name,
    fd: map.fd,
    size,
    drain(onRecord, max) {
      if (closed) return 0;
      let n = 0;
      let sincePublish = 0;
      let off = cons % size;
      let prod = producerPos();
      while (n < max) {
        if (cons >= prod) {
          prod = producerPos();
          if (cons >= prod) break;
        }
        const hdr = TSO ? data32[off >> 2] : Atomics.load(data32, off >> 2);
        if (hdr & BUSY) break; // being written: stop here, resume next time
        const len = hdr & LEN_MASK;
        if (!(hdr & DISCARD)) onRecord(data, off + HDR, len);
        const step = (len + HDR + 7) & ~7;
        cons += step;
        off = (off + step) & mask;
        n++;
        if (++sincePublish === PUBLISH_EVERY) {
          Atomics.store(cons64, 0, BigInt(cons));
          sincePublish = 0;
        }
      }
      if (sincePublish) Atomics.store(cons64, 0, BigInt(cons));
      return n;
    },
    pending() {
      return closed ? 0 : producerPos() - cons;
    },
    close() {
      if (closed) return;
      closed = true;
      c.munmap(consPtr, BigInt(page));
      c.munmap(prodPtr, BigInt(prodLen));
    },
  };
}
