/**
 * Framing: a byte stream to batches of complete text lines.
 *
 * A batch keeps its lines as offsets into one decoded text (no string per
 * line), plus — when every character of that text came from exactly one byte
 * (ASCII output, as bpftrace 0.17 prints) — the bytes themselves, so that a
 * scanner can read bytes (about twice as fast as reading characters) and
 * slice strings from the text at the same offsets.
 * @module
 */

/** Complete lines from one input chunk. */
export interface LineBatch {
  /** The decoded text the lines are in. */
  readonly text: string;
  /** Where each line starts in `text`. */
  readonly starts: readonly number[];
  /** Where each line ends in `text` (exclusive; its line ending is not part of it). */
  readonly ends: readonly number[];
  /**
   * The bytes `text` was decoded from, when byte offsets equal character
   * offsets (one byte per character); `undefined` otherwise.
   */
  readonly bytes: Uint8Array | undefined;
}

/** The number of lines in a batch. */
export function lineCount(batch: LineBatch): number {
  return batch.starts.length;
}

/** Line `i` of a batch, as a string. */
export function lineOf(batch: LineBatch, i: number): string {
  return batch.text.slice(batch.starts[i], batch.ends[i]);
}

/** Every line of a batch, as strings. */
export function linesOf(batch: LineBatch): string[] {
  return batch.starts.map((_, i) => lineOf(batch, i));
}

/** A batch of the given lines (joined by newlines; `bytes` set when all are ASCII). */
export function lineBatchOf(lines: readonly string[]): LineBatch {
  const starts: number[] = [];
  const ends: number[] = [];
  let text = "";
  for (const l of lines) {
    starts.push(text.length);
    text += l;
    ends.push(text.length);
    text += "\n";
  }
  return { text, starts, ends, bytes: asciiBytes(text) };
}

/** Options of {@linkcode lineSplitter}. */
export interface LineSplitterOptions {
  /** Lines longer than this many characters are dropped (default 1 MiB). */
  maxLineLength?: number;
  /** Called with the length of each dropped overlong line. */
  onOverlong?: (length: number) => void;
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** The bytes of `s` when it is all ASCII; `undefined` otherwise. */
function asciiBytes(s: string): Uint8Array | undefined {
  const b = encoder.encode(s);
  return b.length === s.length ? b : undefined;
}

/** How many bytes at the end of `b` start a UTF-8 sequence that is not complete yet. */
function incompleteTail(b: Uint8Array): number {
  for (let back = 1; back <= 3 && back <= b.length; back++) {
    const c = b[b.length - back];
    if (c < 0x80) return 0; // ASCII: complete
    if (c >= 0xc0) {
      // a lead byte: how many bytes its sequence needs
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      return need > back ? back : 0;
    }
    // a continuation byte: look further back
  }
  return 0;
}

/**
 * Splits UTF-8 bytes on `\n` into batches of lines (one batch per input chunk
 * that completes a line, `\r` and empty lines removed). A final line without
 * newline is emitted at the end of the stream.
 */
export function lineSplitter(
  options: LineSplitterOptions = {},
): TransformStream<Uint8Array, LineBatch> {
  const max = options.maxLineLength ?? 1 << 20;
  const decoder = new TextDecoder();
  let carry = ""; // the start of a line whose end has not arrived yet
  let carryBytes: Uint8Array | undefined = EMPTY; // its bytes, while one byte per character
  let pending = 0; // bytes of an incomplete UTF-8 sequence the decoder holds
  let tail = EMPTY; // the last (up to 3) bytes of the stream so far
  let skipping = false; // inside an overlong line, dropping until its newline
  let skipped = 0;
  let skippedCr = false; // the skipped text so far ends with "\r"

  function take(
    decoded: string,
    chunk: Uint8Array | undefined,
    controller: TransformStreamDefaultController<LineBatch>,
  ) {
    // one byte per character in this chunk, and in the carry before it?
    const aligned = chunk !== undefined && carryBytes !== undefined && pending === 0 &&
      decoded.length === chunk.length;
    const text = carry ? carry + decoded : decoded;
    let bytes: Uint8Array | undefined;
    if (aligned) {
      if (carryBytes!.length === 0) bytes = chunk;
      else {
        bytes = new Uint8Array(carryBytes!.length + chunk!.length);
        bytes.set(carryBytes!);
        bytes.set(chunk!, carryBytes!.length);
      }
    }
    const starts: number[] = [];
    const ends: number[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      if (skipping) {
        // report the length without the "\r" of a CRLF, as for a line seen whole
        const cr = nl > start ? text.charCodeAt(nl - 1) === 13 : skippedCr;
        options.onOverlong?.(skipped + nl - start - (cr ? 1 : 0));
        skipping = false;
      } else {
        const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        if (end - start > max) options.onOverlong?.(end - start);
        else if (end > start) {
          starts.push(start);
          ends.push(end);
        }
      }
      start = nl + 1;
    }
    const rest = text.length - start;
    if (skipping) {
      skipped += rest;
      if (rest) skippedCr = text.charCodeAt(text.length - 1) === 13;
      carry = "";
      carryBytes = EMPTY;
    } else if (rest > max + 1) {
      // max + 1: a line of max characters may still end with the "\r" of a CRLF
      skipping = true;
      skipped = rest;
      skippedCr = text.charCodeAt(text.length - 1) === 13;
      carry = "";
      carryBytes = EMPTY;
    } else {
      carry = text.slice(start);
      carryBytes = rest === 0 ? EMPTY : bytes ? bytes.slice(start) : asciiBytes(carry);
    }
    if (starts.length) controller.enqueue({ text, starts, ends, bytes });
  }

  return new TransformStream<Uint8Array, LineBatch>({
    transform(chunk, controller) {
      const decoded = decoder.decode(chunk, { stream: true });
      take(decoded, chunk, controller);
      // the stream's last bytes: does the decoder hold an incomplete character for the next chunk?
      if (chunk.length >= 3) tail = chunk.slice(chunk.length - 3);
      else {
        const joined = new Uint8Array(tail.length + chunk.length);
        joined.set(tail);
        joined.set(chunk, tail.length);
        tail = joined.slice(Math.max(0, joined.length - 3));
      }
      pending = incompleteTail(tail);
    },
    flush(controller) {
      take(decoder.decode() + "\n", undefined, controller);
    },
  });
}
