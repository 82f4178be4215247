/**
 * `syscall`: a system call number as its name (x86_64 table); unknown
 * numbers, or other architectures, give `unknown_syscall:<n>`.
 * @module
 */
import { numericText, parseUintText } from "./bytes.ts";
import { SYSCALLS_X86_64 } from "./syscall_table_x86_64.ts";
import type { DecoderFactory } from "./types.ts";

const TABLE = Deno.build.arch === "x86_64" ? SYSCALLS_X86_64 : [];

/** The name of syscall `nr` on this architecture, or `unknown_syscall:<nr>`. */
export function syscallName(nr: number): string {
  return TABLE[nr] ?? `unknown_syscall:${nr}`;
}

/** Creates a `syscall` decoder. */
export const syscallDecoder: DecoderFactory = () => {
  const text = (input: string) => syscallName(parseUintText(input, "syscall"));
  return {
    name: "syscall",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
