/**
 * Framing: a byte stream to batches of complete text lines.
 * @module
 */

/** Options of {@linkcode lineSplitter}. */
export interface LineSplitterOptions {
  /** Lines longer than this many characters are dropped (default 1 MiB). */
  maxLineLength?: number;
  /** Called with the length of each dropped overlong line. */
  onOverlong?: (length: number) => void;
}

/**
 * Splits UTF-8 bytes on `\n` into batches of lines (one batch per input chunk,
 * `\r` and empty lines removed). A final line without newline is emitted at
 * the end of the stream.
 */
export function lineSplitter(
  options: LineSplitterOptions = {},
): TransformStream<Uint8Array, string[]> {
  const max = options.maxLineLength ?? 1 << 20;
  const decoder = new TextDecoder();
  let carry = "";
  let skipping = false; // inside an overlong line, dropping until its newline
  let skipped = 0;
  let skippedCr = false; // the skipped text so far ends with "\r"

  function take(text: string, out: string[]): void {
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
        let line = carry ? carry + text.slice(start, nl) : text.slice(start, nl);
        carry = "";
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line.length > max) options.onOverlong?.(line.length);
        else if (line.length) out.push(line);
      }
      start = nl + 1;
    }
    const rest = text.slice(start);
    if (skipping) {
      skipped += rest.length;
      if (rest) skippedCr = rest.endsWith("\r");
    } else if (carry.length + rest.length > max + 1) {
      // max + 1: a line of max characters may still end with the "\r" of a CRLF
      skipping = true;
      skipped = carry.length + rest.length;
      skippedCr = rest ? rest.endsWith("\r") : carry.endsWith("\r");
      carry = "";
    } else carry += rest;
  }

  return new TransformStream<Uint8Array, string[]>({
    transform(chunk, controller) {
      const out: string[] = [];
      take(decoder.decode(chunk, { stream: true }), out);
      if (out.length) controller.enqueue(out);
    },
    flush(controller) {
      const out: string[] = [];
      take(decoder.decode() + "\n", out);
      if (out.length) controller.enqueue(out);
    },
  });
}
