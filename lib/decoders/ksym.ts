/**
 * `ksym`: an 8-byte kernel address as the name of the function containing
 * it; `unknown_addr:0x<hex>` when none.
 * @module
 */
import { readU64, utf8Bytes } from "./bytes.ts";
import { kallsyms } from "./kallsyms.ts";
import { DecodeError, type DecoderFactory } from "./types.ts";

/** Creates a `ksym` decoder (the symbol table loads on first use). */
export const ksymDecoder: DecoderFactory = (_config, env) => {
  const cache = new Map<bigint, string>();
  const decode = (addr: bigint) => {
    let name = cache.get(addr);
    if (name === undefined) {
      name = kallsyms(env.kallsymsPath).lookup(addr) ?? `unknown_addr:0x${addr.toString(16)}`;
      if (cache.size > 65536) cache.clear();
      cache.set(addr, name);
    }
    return name;
  };
  const bytes = (buf: Uint8Array, off: number, len: number) => {
    if (len !== 8) throw new DecodeError(`ksym: address of ${len} bytes (expected 8)`);
    return decode(readU64(buf, off));
  };
  return {
    name: "ksym",
    bytes,
    text(input) {
      const b = utf8Bytes(input);
      return bytes(b, 0, b.length);
    },
  };
};
