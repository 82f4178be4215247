/**
 * Unsigned LEB128 ("uvarint") reading over a byte range, as Go's
 * `encoding/binary` writes it: 7 bits a byte, low first, at most 10 bytes for
 * 64 bits. Non-minimal encodings (extra 0x80 padding, which the runtime may
 * write) are accepted.
 * @module
 */
import { GoTraceError } from "./parse_error.ts";

const TWO_POW_53 = 2 ** 53;

/** A read position over `bytes[pos, end)`. */
export class ByteCursor {
  /** Next byte to read. */
  pos: number;
  /** Set by {@linkcode ByteCursor.u} when the last value did not fit exactly in a `number`. */
  inexact = false;

  /** A cursor over `bytes[start, end)`. */
  constructor(readonly bytes: Uint8Array, start: number, readonly end: number) {
    this.pos = start;
  }

  /** Whether unread bytes remain. */
  more(): boolean {
    return this.pos < this.end;
  }

  /** One byte. */
  byte(): number {
    if (this.pos >= this.end) throw new GoTraceError("unexpected end of data", this.pos);
    return this.bytes[this.pos++];
  }

  /**
   * A uvarint as a `number`: exact below 2^53; above, approximate and
   * {@linkcode ByteCursor.inexact} is set (callers needing 64 bits use {@linkcode ByteCursor.big}).
   */
  u(): number {
    const b = this.bytes;
    let p = this.pos;
    if (p < this.end) {
      const x = b[p];
      if (x < 0x80) {
        this.pos = p + 1;
        this.inexact = false;
        return x;
      }
    }
    const start = p;
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) throw new GoTraceError("truncated uvarint", start);
      const x = b[p++];
      if (i === 9 && x > 1) throw new GoTraceError("uvarint overflows 64 bits", start);
      value += (x & 0x7f) * mul;
      if (x < 0x80) {
        this.pos = p;
        this.inexact = value >= TWO_POW_53;
        return value;
      }
      mul *= 128;
    }
    throw new GoTraceError("uvarint longer than 10 bytes", start);
  }

  /** A uvarint that must be an exact `number` (ids, counts); `what` names it in the error. */
  id(what: string): number {
    const at = this.pos;
    const v = this.u();
    if (this.inexact) throw new GoTraceError(`${what} ${this.bigAt(at)} is larger than 2^53`, at);
    return v;
  }

  /** A uvarint as an exact 64-bit `bigint`. */
  big(): bigint {
    const b = this.bytes;
    let p = this.pos;
    const start = p;
    let value = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (p >= this.end) throw new GoTraceError("truncated uvarint", start);
      const x = b[p++];
      if (i === 9 && x > 1) throw new GoTraceError("uvarint overflows 64 bits", start);
      value |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) {
        this.pos = p;
        return value;
      }
      shift += 7n;
    }
    throw new GoTraceError("uvarint longer than 10 bytes", start);
  }

  /** Skips `n` uvarints without decoding them. */
  skip(n: number): void {
    const b = this.bytes;
    let p = this.pos;
    for (let k = 0; k < n; k++) {
      const start = p;
      for (;;) {
        if (p >= this.end) throw new GoTraceError("truncated uvarint", start);
        if (p - start >= 10) throw new GoTraceError("uvarint longer than 10 bytes", start);
        if (b[p++] < 0x80) break;
      }
    }
    this.pos = p;
  }

  private bigAt(at: number): bigint {
    const save = this.pos;
    this.pos = at;
    try {
      return this.big();
    } finally {
      this.pos = save;
    }
  }
}
