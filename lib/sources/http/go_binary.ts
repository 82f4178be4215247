/**
 * Whether a process runs a Go binary: its executable (ELF64) has a
 * `.go.buildinfo` or `.note.go.buildid` section (kept by `strip`; the
 * runtime reads build info from it). Read through libc from
 * /proc/PID/exe: the ELF header, the section headers and the section-name
 * table only.
 * @module
 */
import { readSysRange } from "../../ffi/sysfs.ts";

const GO_SECTIONS = new Set([".go.buildinfo", ".note.go.buildid"]);
const MAX_SECTIONS = 4096;

/** Whether the ELF image read by `read(offset, length)` has a Go section; false for anything else. */
export function hasGoSection(read: (offset: number, length: number) => Uint8Array): boolean {
  const h = read(0, 64);
  if (h.length < 64 || h[0] !== 0x7f || h[1] !== 0x45 || h[2] !== 0x4c || h[3] !== 0x46 || h[4] !== 2 || h[5] !== 1) {
    return false; // not a little-endian ELF64
  }
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  if (shentsize < 64 || shnum === 0 || shnum > MAX_SECTIONS || shstrndx >= shnum) return false;
  const table = read(shoff, shnum * shentsize);
  if (table.length < shnum * shentsize) return false;
  const t = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const strOff = Number(t.getBigUint64(shstrndx * shentsize + 0x18, true));
  const strSize = Math.min(Number(t.getBigUint64(shstrndx * shentsize + 0x20, true)), 1 << 20);
  const names = read(strOff, strSize);
  for (let i = 0; i < shnum; i++) {
    const at = t.getUint32(i * shentsize, true);
    if (at >= names.length) continue;
    let end = at;
    while (end < names.length && names[end] !== 0 && end - at < 32) end++;
    if (GO_SECTIONS.has(String.fromCharCode(...names.subarray(at, end)))) return true;
  }
  return false;
}

/** Whether process `pid` runs a Go binary (false when it cannot be read). */
export function isGoProcess(pid: number): boolean {
  try {
    return hasGoSection((offset, length) => readSysRange(`/proc/${pid}/exe`, offset, length));
  } catch {
    return false;
  }
}
