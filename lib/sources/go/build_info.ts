/**
 * The Go toolchain version a binary was built with, from its `.go.buildinfo`
 * section (the data `go version FILE` prints).
 * @module
 */
import { UserError } from "../../core/errors.ts";
import type { ElfFile } from "./elf.ts";

/** A Go version, e.g. `go1.19.8` → major 1, minor 19, patch 8. */
export interface GoVersion {
  /** As the binary spells it (`go1.19.8`, `devel ...`). */
  text: string;
  major: number;
  minor: number;
  patch: number;
}

const MAGIC = Uint8Array.of(0xff, ...new TextEncoder().encode(" Go buildinf:"));
const decoder = new TextDecoder();

function readUvarint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (let i = at; i < b.length && shift < 35; i++) {
    v += (b[i] & 0x7f) * 2 ** shift;
    if (b[i] < 0x80) return [v, i + 1];
    shift += 7;
  }
  throw new Error("bad varint");
}

/** Parses `go1.N[.P]` (anything else: minor 0, to be rejected by the caller). */
export function parseGoVersion(text: string): GoVersion {
  const m = /^go(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m
    ? { text, major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) }
    : { text, major: 0, minor: 0, patch: 0 };
}

/**
 * The Go version of `elf`. Throws a UserError (exit 2) naming the file when
 * it is no Go binary (no build info).
 */
export function readGoVersion(elf: ElfFile): GoVersion {
  const sec = elf.section(".go.buildinfo");
  const data = sec ? elf.sectionBytes(sec) : new Uint8Array(0);
  const hasMagic = data.length >= 32 && MAGIC.every((b, i) => data[i] === b);
  if (!hasMagic) {
    throw new UserError(
      `${elf.path}: not a Go program (no Go build info section .go.buildinfo); --probe go traces Go binaries only`,
      2,
    );
  }
  const ptrSize = data[14];
  const flags = data[15];
  let text: string;
  if (flags & 2) {
    // Go 1.18+: the version string inline after the 32-byte header
    const [len, at] = readUvarint(data, 32);
    text = decoder.decode(data.subarray(at, at + len));
  } else {
    // older: a pointer to a Go string header (pointer, length)
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const big = (flags & 1) === 1;
    const ptr = (at: number) => ptrSize === 8 ? dv.getBigUint64(at, !big) : BigInt(dv.getUint32(at, !big));
    const hdr = elf.fileOffset(ptr(16));
    if (hdr === undefined) throw new UserError(`${elf.path}: Go build info points outside the file`, 2);
    const hv = new DataView(elf.bytes.buffer, elf.bytes.byteOffset + hdr, ptrSize * 2);
    const strAddr = ptrSize === 8 ? hv.getBigUint64(0, !big) : BigInt(hv.getUint32(0, !big));
    const len = Number(ptrSize === 8 ? hv.getBigUint64(8, !big) : BigInt(hv.getUint32(4, !big)));
    const at = elf.fileOffset(strAddr);
    if (at === undefined || len > 256) throw new UserError(`${elf.path}: Go build info version is unreadable`, 2);
    text = decoder.decode(elf.bytes.subarray(at, at + len));
  }
  return parseGoVersion(text);
}
