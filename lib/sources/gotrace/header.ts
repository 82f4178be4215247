/**
 * The 16-byte header of a Go execution trace, `go 1.NN trace\0\0\0`, and the
 * versions of the v2 format this parser reads (Go 1.22 to 1.26).
 * @module
 */
import { GoTraceError } from "./parse_error.ts";

/** Minor versions of the v2 format (Go 1.24 writes the 1.23 format and header). */
export type GoTraceVersion = 22 | 23 | 25 | 26;

/** Every v2 format version we read. */
export const SUPPORTED_VERSIONS: readonly GoTraceVersion[] = [22, 23, 25, 26];

/** Length of the header in bytes. */
export const HEADER_BYTES = 16;

/** Reads the header; throws a {@linkcode GoTraceError} naming the version found when it is not one we read. */
export function readHeader(bytes: Uint8Array): GoTraceVersion {
  if (bytes.length < HEADER_BYTES) {
    throw new GoTraceError(`not a Go execution trace: ${bytes.length} bytes, shorter than the 16-byte header`, 0);
  }
  let text = "";
  for (let i = 0; i < HEADER_BYTES; i++) text += String.fromCharCode(bytes[i]);
  const m = /^go 1\.(\d{1,3}) trace\0+$/.exec(text);
  if (!m) {
    throw new GoTraceError("not a Go execution trace: the header is not 'go 1.NN trace'", 0);
  }
  const minor = Number(m[1]);
  if (minor < 22) {
    throw new GoTraceError(
      `Go 1.${minor} trace: the pre-1.22 (v1) format is not supported; record with Go 1.22 or newer`,
      0,
    );
  }
  if (!(SUPPORTED_VERSIONS as readonly number[]).includes(minor)) {
    throw new GoTraceError(
      `Go 1.${minor} trace: unknown trace format version (supported: ${
        SUPPORTED_VERSIONS.map((x) => `1.${x}`).join(", ")
      })`,
      0,
    );
  }
  return minor as GoTraceVersion;
}
