/**
 * The one error a Go trace parse raises: says what is wrong and where (byte
 * offset, generation), never carries a stack trace to the user.
 * @module
 */

/** A Go execution trace that cannot be read; `offset` is the byte offset in the file. */
export class GoTraceError extends Error {
  /** Byte offset of the problem in the file (-1 when not tied to one place). */
  readonly offset: number;
  /** Creates the error; the message says what was found and what was expected. */
  constructor(message: string, offset = -1) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : message);
    this.name = "GoTraceError";
    this.offset = offset;
  }
}
