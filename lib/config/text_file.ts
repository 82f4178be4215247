/**
 * Reading the user's config and spec files: only a regular file of at most
 * {@linkcode MAX_CONFIG_BYTES} is read, so that `--config /dev/zero`,
 * `--probe /dev/stdin` or a FIFO is refused with a one-line error (exit 2)
 * instead of blocking or filling memory.
 * @module
 */
import { UserError } from "../core/errors.ts";

/** The largest config or spec file read (4 MiB): the bundled ones are a few kB, big static maps a few hundred kB. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * The text of the regular file at `path`; a read failure, a non-regular file
 * or one over {@linkcode MAX_CONFIG_BYTES} throws UserError (exit 2) as
 * `PATH: cannot read WHAT: REASON`.
 */
export function readConfigText(path: string, what: string): string {
  const fail = (why: string) => new UserError(`${path}: cannot read ${what}: ${why}`, 2);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw Object.assign(fail((e as Error).message), { cause: e });
  }
  if (info.isDirectory) throw fail("it is a directory");
  if (!info.isFile) throw fail("not a regular file (a device, FIFO or socket is not read)");
  if (info.size > MAX_CONFIG_BYTES) throw fail(`${info.size} bytes; at most ${MAX_CONFIG_BYTES} are read`);
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw fail((e as Error).message);
  }
}
