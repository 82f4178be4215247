/**
 * `kstack`: an array of 8-byte kernel addresses (as from
 * `bpf_get_stack`), up to the first zero, as newline-separated symbols;
 * `??` for an address without one.
 * @module
 */
import { readU64, utf8Bytes } from "./bytes.ts";
import { kallsyms } from "./kallsyms.ts";
import { DecodeError, type DecoderFactory } from "./types.ts";

/** Creates a `kstack` decoder (the symbol table loads on first use). */
export const kstackDecoder: DecoderFactory = (_config, env) => {
  const bytes = (buf: Uint8Array, off: number, len: number) => {
    if (len % 8 !== 0) {
      throw new DecodeError(`kstack: ${len} bytes is not a whole number of addresses`);
    }
    const syms = kallsyms(env.kallsymsPath);
    const frames: string[] = [];
    for (let i = off; i < off + len; i += 8) {
      const addr = readU64(buf, i);
      if (addr === 0n) break;
      frames.push(syms.lookup(addr) ?? "??");
    }
    return frames.join("\n");
  };
  return {
    name: "kstack",
    bytes,
    text(input) {
      const b = utf8Bytes(input);
      return bytes(b, 0, b.length);
    },
  };
};
