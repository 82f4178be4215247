/**
 * Struct field offsets from a binary's DWARF (`.debug_info` with
 * `.debug_abbrev`), decompressing SHF_COMPRESSED and `.zdebug_*` sections
 * with the web-standard `DecompressionStream`. Only what spanprobe needs:
 * the members of named structure types.
 * @module
 */
import { UserError } from "../../core/errors.ts";
import { type ElfFile, SHF_COMPRESSED } from "./elf.ts";

/** The binary carries no DWARF (built with `-ldflags=-w`, or stripped). */
export class NoDwarfError extends UserError {
  constructor(path: string) {
    super(
      `${path}: no DWARF debug information (.debug_info): the binary was built with -ldflags=-w or stripped; ` +
        "rebuild without -w, or use a Go version with a committed offsets table",
      2,
    );
    this.name = "NoDwarfError";
  }
}

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data.slice()]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The contents of DWARF section `name` (e.g. `.debug_info`), decompressed;
 * undefined when the binary has neither `name` nor `.zdebug_…`.
 */
export async function dwarfSection(elf: ElfFile, name: string): Promise<Uint8Array | undefined> {
  const plain = elf.section(name);
  if (plain) {
    const bytes = elf.sectionBytes(plain);
    if ((plain.flags & SHF_COMPRESSED) === 0n) return bytes;
    // Elf64_Chdr: ch_type (1 = zlib), reserved, ch_size, ch_addralign; then the zlib stream
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const type = dv.getUint32(0, true);
    if (type !== 1) throw new UserError(`${elf.path}: section ${name} uses compression type ${type} (only zlib)`, 2);
    const out = await inflate(bytes.subarray(24));
    if (out.length !== Number(dv.getBigUint64(8, true))) {
      throw new UserError(`${elf.path}: section ${name} decompresses to the wrong size`, 2);
    }
    return out;
  }
  const z = elf.section(name.replace(/^\.debug_/, ".zdebug_"));
  if (!z) return undefined;
  const bytes = elf.sectionBytes(z);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== "ZLIB") return bytes; // stored uncompressed despite the name
  return await inflate(bytes.subarray(12));
}

/** A cursor over DWARF bytes. */
class Reader {
  readonly dv: DataView;
  pos = 0;
  constructor(readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  u8(): number {
    return this.b[this.pos++];
  }
  u16(): number {
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(): number {
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): number {
    const v = Number(this.dv.getBigUint64(this.pos, true));
    this.pos += 8;
    return v;
  }
  uleb(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const byte = this.b[this.pos++];
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 128;
    }
  }
  sleb(): number {
    let v = 0;
    let mul = 1;
    let byte;
    do {
      byte = this.b[this.pos++];
      v += (byte & 0x7f) * mul;
      mul *= 128;
    } while (byte >= 0x80);
    return byte & 0x40 ? v - mul : v;
  }
  cstr(): string {
    let end = this.pos;
    while (this.b[end] !== 0) end++;
    const s = decoder.decode(this.b.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
}

const decoder = new TextDecoder();

interface Abbrev {
  tag: number;
  children: boolean;
  attrs: { at: number; form: number; implicit: number }[];
}

function parseAbbrevs(b: Uint8Array, offset: number): Map<number, Abbrev> {
  const r = new Reader(b);
  r.pos = offset;
  const out = new Map<number, Abbrev>();
  for (;;) {
    const code = r.uleb();
    if (code === 0) return out;
    const tag = r.uleb();
    const children = r.u8() === 1;
    const attrs = [];
    for (;;) {
      const at = r.uleb();
      const form = r.uleb();
      if (at === 0 && form === 0) break;
      attrs.push({ at, form, implicit: form === 0x21 ? r.sleb() : 0 });
    }
    out.set(code, { tag, children, attrs });
  }
}

const TAG_STRUCT = 0x13;
const TAG_MEMBER = 0x0d;
const AT_NAME = 0x03;
const AT_MEMBER_LOCATION = 0x38;

interface CuShape {
  version: number;
  addrSize: number;
  offSize: number;
}

/** Reads one attribute value: numbers for constants/references, strings for names; skips the rest. */
function readForm(
  r: Reader,
  form: number,
  cu: CuShape,
  str: Uint8Array | undefined,
  implicit: number,
): number | string | Uint8Array | undefined {
  switch (form) {
    case 0x01:
      return cu.addrSize === 8 ? r.u64() : r.u32();
    case 0x03: {
      const n = r.u16();
      r.pos += n;
      return undefined;
    }
    case 0x04: {
      const n = r.u32();
      r.pos += n;
      return undefined;
    }
    case 0x05:
      return r.u16();
    case 0x06:
      return r.u32();
    case 0x07:
      return r.u64();
    case 0x08:
      return r.cstr();
    case 0x09:
    case 0x18: {
      const n = r.uleb();
      const v = r.b.subarray(r.pos, r.pos + n);
      r.pos += n;
      return v;
    }
    case 0x0a: {
      const n = r.u8();
      r.pos += n;
      return undefined;
    }
    case 0x0b:
    case 0x0c:
    case 0x11:
    case 0x25:
    case 0x29:
      return r.u8();
    case 0x0d:
      return r.sleb();
    case 0x0e:
    case 0x1f: {
      const off = cu.offSize === 8 ? r.u64() : r.u32();
      if (form === 0x0e && str) {
        let end = off;
        while (str[end] !== 0 && end < str.length) end++;
        return decoder.decode(str.subarray(off, end));
      }
      return undefined;
    }
    case 0x0f:
    case 0x15:
    case 0x1a:
    case 0x1b:
    case 0x22:
    case 0x23:
      return r.uleb();
    case 0x10:
      return cu.version <= 2 ? (cu.addrSize === 8 ? r.u64() : r.u32()) : (cu.offSize === 8 ? r.u64() : r.u32());
    case 0x12:
    case 0x26:
    case 0x2a:
      return r.u16();
    case 0x27:
    case 0x2b:
      r.pos += 3;
      return undefined;
    case 0x13:
    case 0x1c:
    case 0x28:
    case 0x2c:
      return r.u32();
    case 0x14:
    case 0x20:
    case 0x24:
      return r.u64();
    case 0x16:
      return readForm(r, r.uleb(), cu, str, implicit);
    case 0x17:
    case 0x1d:
      return cu.offSize === 8 ? r.u64() : r.u32();
    case 0x19:
      return 1;
    case 0x1e:
      r.pos += 16;
      return undefined;
    case 0x21:
      return implicit;
    default:
      throw new Error(`unsupported DWARF form 0x${form.toString(16)}`);
  }
}

/** A member location: a constant, or an expression `DW_OP_plus_uconst N`. */
function memberOffset(v: number | string | Uint8Array | undefined): number | undefined {
  if (typeof v === "number") return v;
  if (v instanceof Uint8Array && v[0] === 0x23) return new Reader(v.subarray(1)).uleb();
  return undefined;
}

/** Field offsets by `"<struct>.<field>"`, e.g. `"net/http.Request.Method"` → 0. */
export type FieldOffsets = Map<string, number>;

/**
 * The byte offsets of the fields `wanted` names (struct name → field names)
 * as the binary's DWARF describes them. Structs or fields the binary lacks
 * are simply absent from the result. Throws {@linkcode NoDwarfError} when
 * the binary has no DWARF.
 */
export async function readFieldOffsets(elf: ElfFile, wanted: Record<string, string[]>): Promise<FieldOffsets> {
  const info = await dwarfSection(elf, ".debug_info");
  const abbrevData = await dwarfSection(elf, ".debug_abbrev");
  if (!info || !abbrevData) throw new NoDwarfError(elf.path);
  const str = await dwarfSection(elf, ".debug_str");
  const out: FieldOffsets = new Map();
  const abbrevCache = new Map<number, Map<number, Abbrev>>();
  const r = new Reader(info);
  while (r.pos < info.length) {
    let unitLength = r.u32();
    let offSize = 4;
    if (unitLength === 0xffffffff) {
      unitLength = r.u64();
      offSize = 8;
    }
    const unitEnd = r.pos + unitLength;
    const version = r.u16();
    let addrSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      const unitType = r.u8();
      addrSize = r.u8();
      abbrevOffset = offSize === 8 ? r.u64() : r.u32();
      if (unitType === 2 || unitType === 6) r.pos += 8 + offSize; // type units: signature, type offset
      else if (unitType === 4 || unitType === 5) r.pos += 8; // skeleton/split: dwo id
    } else {
      abbrevOffset = offSize === 8 ? r.u64() : r.u32();
      addrSize = r.u8();
    }
    const cu: CuShape = { version, addrSize, offSize };
    let abbrevs = abbrevCache.get(abbrevOffset);
    if (!abbrevs) abbrevCache.set(abbrevOffset, abbrevs = parseAbbrevs(abbrevData, abbrevOffset));
    let depth = 0;
    let structDepth = -1;
    let structName = "";
    let fields: string[] | undefined;
    while (r.pos < unitEnd) {
      const code = r.uleb();
      if (code === 0) {
        depth--;
        if (depth <= structDepth) structDepth = -1;
        continue;
      }
      const ab = abbrevs.get(code);
      if (!ab) throw new Error(`DWARF: unknown abbreviation ${code} at offset ${r.pos}`);
      const interesting = ab.tag === TAG_STRUCT ||
        (ab.tag === TAG_MEMBER && structDepth >= 0 && depth === structDepth + 1);
      let name: string | undefined;
      let loc: number | undefined;
      for (const a of ab.attrs) {
        const v = readForm(r, a.form, cu, str, a.implicit);
        if (!interesting) continue;
        if (a.at === AT_NAME && typeof v === "string") name = v;
        else if (a.at === AT_MEMBER_LOCATION) loc = memberOffset(v);
      }
      if (ab.tag === TAG_STRUCT && name !== undefined && wanted[name] && ab.children) {
        structDepth = depth;
        structName = name;
        fields = wanted[name];
      } else if (interesting && ab.tag === TAG_MEMBER && name !== undefined && loc !== undefined) {
        if (fields?.includes(name)) out.set(`${structName}.${name}`, loc);
      }
      if (ab.children) depth++;
    }
    r.pos = unitEnd;
  }
  return out;
}
