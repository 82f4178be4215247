/**
 * The USDT probes an ELF file declares: its `.note.stapsdt` section (the
 * SystemTap SDT notes that `<sys/sdt.h>` emits), read with plain file reads.
 * Used to say which probes a binary has when a script names one it lacks.
 * @module
 */

/** One USDT probe of a binary. */
export interface UsdtProbe {
  provider: string;
  name: string;
}

const NT_STAPSDT = 3;

async function readAt(file: Deno.FsFile, offset: bigint, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) throw new Error("ELF file truncated");
    got += n;
  }
  return buf;
}

function cString(bytes: Uint8Array, at: number): [string, number] {
  let end = at;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return [new TextDecoder().decode(bytes.subarray(at, end)), end + 1];
}

/**
 * The USDT probes in `path`'s `.note.stapsdt` section, in file order
 * (duplicates, one per call site, removed). An ELF without the section has
 * none. Throws when the file cannot be read or is not a 64- or 32-bit
 * little-endian ELF.
 */
export async function readUsdtProbes(path: string): Promise<UsdtProbe[]> {
  using file = await Deno.open(path, { read: true });
  const ident = await readAt(file, 0n, 64);
  if (ident[0] !== 0x7f || ident[1] !== 0x45 || ident[2] !== 0x4c || ident[3] !== 0x46) {
    throw new Error("not an ELF file");
  }
  const is64 = ident[4] === 2;
  if (ident[5] !== 1) throw new Error("big-endian ELF is not supported");
  const h = new DataView(ident.buffer);
  const shoff = is64 ? h.getBigUint64(0x28, true) : BigInt(h.getUint32(0x20, true));
  const shentsize = h.getUint16(is64 ? 0x3a : 0x2e, true);
  const shnum = h.getUint16(is64 ? 0x3c : 0x30, true);
  const shstrndx = h.getUint16(is64 ? 0x3e : 0x32, true);
  if (shoff === 0n || shnum === 0) return [];
  const table = await readAt(file, shoff, shentsize * shnum);
  const t = new DataView(table.buffer);
  const section = (i: number) => {
    const at = i * shentsize;
    return is64
      ? { name: t.getUint32(at, true), offset: t.getBigUint64(at + 0x18, true), size: t.getBigUint64(at + 0x20, true) }
      : {
        name: t.getUint32(at, true),
        offset: BigInt(t.getUint32(at + 0x10, true)),
        size: BigInt(t.getUint32(at + 0x14, true)),
      };
  };
  const strtab = section(shstrndx);
  const names = await readAt(file, strtab.offset, Number(strtab.size));
  const probes: UsdtProbe[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (cString(names, s.name)[0] !== ".note.stapsdt") continue;
    const notes = await readAt(file, s.offset, Number(s.size));
    const v = new DataView(notes.buffer);
    const align4 = (n: number) => (n + 3) & ~3;
    for (let at = 0; at + 12 <= notes.length;) {
      const namesz = v.getUint32(at, true);
      const descsz = v.getUint32(at + 4, true);
      const type = v.getUint32(at + 8, true);
      const owner = cString(notes.subarray(at + 12, at + 12 + namesz), 0)[0];
      const desc = notes.subarray(at + 12 + align4(namesz), at + 12 + align4(namesz) + descsz);
      at += 12 + align4(namesz) + align4(descsz);
      if (owner !== "stapsdt" || type !== NT_STAPSDT) continue;
      // pc, base and semaphore addresses (3 × 8 or 3 × 4 bytes), then provider\0 name\0 args\0
      const [provider, next] = cString(desc, is64 ? 24 : 12);
      const [name] = cString(desc, next);
      const key = `${provider}:${name}`;
      if (!seen.has(key)) {
        seen.add(key);
        probes.push({ provider, name });
      }
    }
  }
  return probes;
}
