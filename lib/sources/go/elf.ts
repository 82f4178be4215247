/**
 * A minimal ELF64 little-endian reader: section headers, section bytes and
 * the symbol table, and the mapping from a virtual address to a file offset
 * (what a uprobe is attached at).
 * @module
 */
import { UserError } from "../../core/errors.ts";

/** One section header. */
export interface ElfSection {
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  size: number;
}

/** One symbol of `.symtab`. */
export interface ElfSymbol {
  name: string;
  value: bigint;
  size: number;
  /** STT_* (2 = function). */
  type: number;
  /** Index of the section it lies in. */
  shndx: number;
}

/** A parsed ELF file (the bytes stay referenced; sections are views into them). */
export interface ElfFile {
  /** Where it was read from (for error messages). */
  readonly path: string;
  readonly bytes: Uint8Array;
  /** `e_machine` (62 = x86-64, 183 = AArch64). */
  readonly machine: number;
  readonly sections: readonly ElfSection[];
  /** The section called `name`, if any. */
  section(name: string): ElfSection | undefined;
  /** The raw bytes of a section (NOBITS sections are empty). */
  sectionBytes(s: ElfSection): Uint8Array;
  /** `.symtab` symbols by name; empty when the binary was stripped of it. */
  symbols(): Map<string, ElfSymbol>;
  /** The file offset of virtual address `addr` (inside an allocated section), or undefined. */
  fileOffset(addr: bigint): number | undefined;
}

/** Section flag: the section's data is compressed (`Elf64_Chdr` header). */
export const SHF_COMPRESSED = 0x800n;
/** Section type of a section without file data (`.bss`). */
export const SHT_NOBITS = 8;
/** Symbol type of a function. */
export const STT_FUNC = 2;

const decoder = new TextDecoder();

function cString(bytes: Uint8Array, at: number): string {
  let end = at;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return decoder.decode(bytes.subarray(at, end));
}

/**
 * Parses `bytes` as an ELF64 little-endian file. Throws a UserError (exit 2)
 * naming `path` when it is not one.
 */
export function parseElf(path: string, bytes: Uint8Array): ElfFile {
  const bad = (why: string) => new UserError(`${path}: not a supported executable: ${why}`, 2);
  if (bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw bad("no ELF header");
  }
  if (bytes[4] !== 2) throw bad("32-bit ELF (only 64-bit is supported)");
  if (bytes[5] !== 1) throw bad("big-endian ELF (only little-endian is supported)");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const machine = dv.getUint16(18, true);
  const shoff = Number(dv.getBigUint64(40, true));
  const shentsize = dv.getUint16(58, true);
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);
  if (shoff === 0 || shnum === 0 || shoff + shnum * shentsize > bytes.length || shentsize < 64) {
    throw bad("no section headers");
  }
  const raw: {
    nameOff: number;
    type: number;
    flags: bigint;
    addr: bigint;
    offset: number;
    size: number;
    link: number;
  }[] = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    raw.push({
      nameOff: dv.getUint32(o, true),
      type: dv.getUint32(o + 4, true),
      flags: dv.getBigUint64(o + 8, true),
      addr: dv.getBigUint64(o + 16, true),
      offset: Number(dv.getBigUint64(o + 24, true)),
      size: Number(dv.getBigUint64(o + 32, true)),
      link: dv.getUint32(o + 40, true),
    });
  }
  const strtab = raw[shstrndx];
  if (!strtab || strtab.offset + strtab.size > bytes.length) throw bad("section name table out of range");
  const sections: ElfSection[] = raw.map((r) => ({
    name: cString(bytes, strtab.offset + r.nameOff),
    type: r.type,
    flags: r.flags,
    addr: r.addr,
    offset: r.offset,
    size: r.size,
  }));
  for (const s of sections) {
    if (s.type !== SHT_NOBITS && s.offset + s.size > bytes.length) {
      throw bad(`section ${s.name} lies beyond the end of the file (truncated?)`);
    }
  }
  let symbolCache: Map<string, ElfSymbol> | undefined;

  const sectionBytes = (s: ElfSection) =>
    s.type === SHT_NOBITS ? new Uint8Array(0) : bytes.subarray(s.offset, s.offset + s.size);

  return {
    path,
    bytes,
    machine,
    sections,
    section: (name) => sections.find((s) => s.name === name),
    sectionBytes,
    symbols() {
      if (symbolCache) return symbolCache;
      symbolCache = new Map();
      const i = sections.findIndex((s) => s.name === ".symtab");
      if (i < 0) return symbolCache;
      const symtab = sections[i];
      const names = sections[raw[i].link];
      const base = symtab.offset;
      for (let o = 24; o + 24 <= symtab.size; o += 24) {
        const nameOff = dv.getUint32(base + o, true);
        const info = bytes[base + o + 4];
        const sym: ElfSymbol = {
          name: cString(bytes, names.offset + nameOff),
          type: info & 0xf,
          shndx: dv.getUint16(base + o + 6, true),
          value: dv.getBigUint64(base + o + 8, true),
          size: Number(dv.getBigUint64(base + o + 16, true)),
        };
        if (!symbolCache.has(sym.name)) symbolCache.set(sym.name, sym);
      }
      return symbolCache;
    },
    fileOffset(addr) {
      for (const s of sections) {
        if (s.addr === 0n || s.type === SHT_NOBITS) continue;
        if (addr >= s.addr && addr < s.addr + BigInt(s.size)) return s.offset + Number(addr - s.addr);
      }
      return undefined;
    },
  };
}
