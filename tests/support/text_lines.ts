/**
 * Text chunks to lines, for reading a child's stderr log line by line.
 * @module
 */

/** Splits a text stream into its non-empty lines (without the newline). */
export class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let carry = "";
    super({
      transform(chunk, c) {
        const parts = (carry + chunk).split("\n");
        carry = parts.pop()!;
        for (const p of parts) if (p) c.enqueue(p);
      },
      flush(c) {
        if (carry) c.enqueue(carry);
      },
    });
  }
}
