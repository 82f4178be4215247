/**
 * An x86-64 instruction length decoder: how many bytes the instruction at
 * an offset takes, and whether it is a near return. Enough to walk a
 * function's machine code from its entry and find every `RET`, which is
 * where spanprobe puts its "return" uprobes (uretprobes crash Go programs).
 *
 * Covers legacy prefixes, REX, the one-byte, 0F, 0F38 and 0F3A opcode maps,
 * VEX (C4/C5) and EVEX (62). tests/go_binary_test.ts checks it against
 * objdump on every function of a real Go binary.
 * @module
 */

// Immediate kinds: 0 none, 1 byte, 2 word, 4 dword, Z = 2 or 4 (operand size), V = 2/4/8 (MOV r, imm), W8 = iw+ib (ENTER)
const Z = 5;
const V = 6;
const W8 = 7;
const GRP3 = 8; // F6/F7: immediate only for /0 and /1
const M = 0x10; // has ModRM
const X = 0x20; // invalid/unsupported in 64-bit mode

function table(spec: [number, number, number][], fill: number): Uint8Array {
  const t = new Uint8Array(256).fill(fill);
  for (const [from, to, v] of spec) for (let i = from; i <= to; i++) t[i] = v;
  return t;
}

/** One-byte opcode map (ModRM flag | immediate kind). */
const ONE = table([
  [0x00, 0x03, M],
  [0x04, 0x04, 1],
  [0x05, 0x05, Z],
  [0x06, 0x07, X],
  [0x08, 0x0b, M],
  [0x0c, 0x0c, 1],
  [0x0d, 0x0d, Z],
  [0x0e, 0x0e, X],
  [0x10, 0x13, M],
  [0x14, 0x14, 1],
  [0x15, 0x15, Z],
  [0x16, 0x17, X],
  [0x18, 0x1b, M],
  [0x1c, 0x1c, 1],
  [0x1d, 0x1d, Z],
  [0x1e, 0x1f, X],
  [0x20, 0x23, M],
  [0x24, 0x24, 1],
  [0x25, 0x25, Z],
  [0x27, 0x27, X],
  [0x28, 0x2b, M],
  [0x2c, 0x2c, 1],
  [0x2d, 0x2d, Z],
  [0x2f, 0x2f, X],
  [0x30, 0x33, M],
  [0x34, 0x34, 1],
  [0x35, 0x35, Z],
  [0x37, 0x37, X],
  [0x38, 0x3b, M],
  [0x3c, 0x3c, 1],
  [0x3d, 0x3d, Z],
  [0x3f, 0x3f, X],
  [0x60, 0x61, X],
  [0x63, 0x63, M],
  [0x68, 0x68, Z],
  [0x69, 0x69, M | Z],
  [0x6a, 0x6a, 1],
  [0x6b, 0x6b, M | 1],
  [0x70, 0x7f, 1],
  [0x80, 0x80, M | 1],
  [0x81, 0x81, M | Z],
  [0x82, 0x82, X],
  [0x83, 0x83, M | 1],
  [0x84, 0x8f, M],
  [0x9a, 0x9a, X],
  [0xa8, 0xa8, 1],
  [0xa9, 0xa9, Z],
  [0xb0, 0xb7, 1],
  [0xb8, 0xbf, V],
  [0xc0, 0xc1, M | 1],
  [0xc2, 0xc2, 2],
  [0xc6, 0xc6, M | 1],
  [0xc7, 0xc7, M | Z],
  [0xc8, 0xc8, W8],
  [0xca, 0xca, 2],
  [0xcd, 0xcd, 1],
  [0xce, 0xce, X],
  [0xd0, 0xd3, M],
  [0xd4, 0xd6, X],
  [0xd8, 0xdf, M],
  [0xe0, 0xe7, 1],
  [0xe8, 0xe9, 4],
  [0xea, 0xea, X],
  [0xeb, 0xeb, 1],
  [0xf6, 0xf7, M | GRP3],
  [0xfe, 0xff, M],
], 0);

/** Two-byte (0F xx) opcode map. */
const TWO = table([
  [0x00, 0x03, M],
  [0x04, 0x04, X],
  [0x0a, 0x0a, X],
  [0x0c, 0x0c, X],
  [0x0d, 0x0d, M],
  [0x0f, 0x0f, M | 1],
  [0x10, 0x2f, M],
  [0x24, 0x27, X],
  [0x40, 0x6f, M],
  [0x70, 0x73, M | 1],
  [0x74, 0x76, M],
  [0x78, 0x7f, M],
  [0x7a, 0x7b, X],
  [0x80, 0x8f, 4],
  [0x90, 0x9f, M],
  [0xa3, 0xa3, M],
  [0xa4, 0xa4, M | 1],
  [0xa5, 0xa5, M],
  [0xa6, 0xa7, X],
  [0xab, 0xab, M],
  [0xac, 0xac, M | 1],
  [0xad, 0xaf, M],
  [0xb0, 0xbf, M],
  [0xba, 0xba, M | 1],
  [0xc0, 0xc1, M],
  [0xc2, 0xc2, M | 1],
  [0xc3, 0xc3, M],
  [0xc4, 0xc6, M | 1],
  [0xc7, 0xc7, M],
  [0xd0, 0xff, M],
], 0);

/** VEX/EVEX map 1 (0F) immediates: the rest take ModRM and no immediate. */
const VEX1_IMM = new Set([0x70, 0x71, 0x72, 0x73, 0xc2, 0xc4, 0xc5, 0xc6]);

/** A decoded instruction's length, or why it could not be decoded. */
export type Decoded = { length: number; ret: boolean } | { error: string };

/** Bytes taken by a ModRM byte and what follows it (SIB, displacement), from `at`; -1 if out of range. */
function modrmLength(code: Uint8Array, at: number, end: number): number {
  if (at >= end) return -1;
  const modrm = code[at];
  const mod = modrm >> 6;
  const rm = modrm & 7;
  let n = 1;
  if (mod !== 3 && rm === 4) {
    if (at + 1 >= end) return -1;
    const sib = code[at + 1];
    n++;
    if (mod === 0 && (sib & 7) === 5) n += 4;
  }
  if (mod === 1) n += 1;
  else if (mod === 2) n += 4;
  else if (mod === 0 && rm === 5) n += 4;
  return n;
}

/**
 * Decodes the length of the instruction at `code[at]` (64-bit mode), not
 * reading at or past `end`.
 */
export function decodeLength(code: Uint8Array, at: number, end = code.length): Decoded {
  let p = at;
  let opsize16 = false;
  let rexW = false;
  let addr32 = false;
  // legacy prefixes
  for (;;) {
    if (p >= end) return { error: "truncated prefixes" };
    const b = code[p];
    if (b === 0x66) opsize16 = true;
    else if (b === 0x67) addr32 = true;
    else if (
      b !== 0xf0 && b !== 0xf2 && b !== 0xf3 && b !== 0x2e && b !== 0x36 && b !== 0x3e &&
      b !== 0x26 && b !== 0x64 && b !== 0x65
    ) break;
    p++;
  }
  if (p - at > 14) return { error: "too many prefixes" };
  if ((code[p] & 0xf0) === 0x40) {
    rexW = (code[p] & 8) !== 0;
    p++;
    if (p >= end) return { error: "truncated after REX" };
  }
  const op = code[p++];
  const done = (length: number, ret = false): Decoded =>
    length <= 15 && at + length <= end ? { length, ret } : { error: "instruction runs past the end" };
  const withModrm = (imm: number): Decoded => {
    const m = modrmLength(code, p, end);
    if (m < 0) return { error: "truncated ModRM" };
    return done(p + m + imm - at);
  };

  if (op === 0xc5 || op === 0xc4 || op === 0x62) {
    // VEX (2 or 3 bytes) or EVEX (4 bytes): then opcode and ModRM
    let map: number;
    if (op === 0xc5) {
      map = 1;
      p += 1;
    } else if (op === 0xc4) {
      map = code[p] & 0x1f;
      p += 2;
    } else {
      map = code[p] & 0x7;
      p += 3;
    }
    if (p >= end) return { error: "truncated VEX/EVEX" };
    const vop = code[p++];
    if (map === 1 && vop === 0x77 && op !== 0x62) return done(p - at); // vzeroupper / vzeroall
    if (map === 1) return withModrm(VEX1_IMM.has(vop) ? 1 : 0);
    if (map === 2) return withModrm(0);
    if (map === 3) return withModrm(1);
    return { error: `unknown VEX/EVEX map ${map}` };
  }

  let spec: number;
  if (op === 0x0f) {
    if (p >= end) return { error: "truncated 0F" };
    const op2 = code[p++];
    if (op2 === 0x38) {
      p++;
      return withModrm(0);
    }
    if (op2 === 0x3a) {
      p++;
      return withModrm(1);
    }
    spec = TWO[op2];
  } else {
    spec = ONE[op];
  }
  if (spec & X) return { error: `opcode 0x${op.toString(16)} is invalid in 64-bit mode` };
  let imm = spec & 0xf;
  if (imm === Z) imm = opsize16 ? 2 : 4;
  else if (imm === V) imm = rexW ? 8 : opsize16 ? 2 : 4;
  else if (imm === W8) imm = 3;
  else if (imm === GRP3) {
    const reg = p < end ? (code[p] >> 3) & 7 : 0;
    imm = reg <= 1 ? (op === 0xf6 ? 1 : opsize16 ? 2 : 4) : 0;
  }
  if (op >= 0xa0 && op <= 0xa3) imm = addr32 ? 4 : 8; // MOV with an absolute address (moffs)
  if (spec & M) return withModrm(imm);
  return done(p + imm - at, op === 0xc3 || op === 0xc2);
}

/**
 * Offsets (from the function's start) of every near `RET` in `code`, one
 * function's machine code, decoded linearly from its entry. Throws when an
 * instruction cannot be decoded (the caller then refuses to probe the function).
 */
export function findReturnOffsets(code: Uint8Array): number[] {
  const out: number[] = [];
  let at = 0;
  while (at < code.length) {
    const d = decodeLength(code, at);
    if ("error" in d) {
      throw new Error(`cannot decode the instruction at +0x${at.toString(16)}: ${d.error}`);
    }
    if (d.ret) out.push(at);
    at += d.length;
  }
  return out;
}
