/**
 * Errors every layer may throw and the CLI knows how to print.
 * @module
 */

/**
 * An error the user can act on (bad config, missing privilege, attach point
 * not found). The CLI prints its message without a stack trace.
 */
export class UserError extends Error {
  /** The exit code the CLI should use: 2 for usage/config, 1 for runtime. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "UserError";
    this.exitCode = exitCode;
  }
}
