/**
 * The Go probe's binary analysis against a real Go binary built by the test
 * with the system's Go, checked against binutils (nm, readelf, objdump,
 * objcopy) and `go version`: ELF sections and symbols, build info, DWARF
 * field offsets (SHF_COMPRESSED, .zdebug and plain), the committed offsets
 * table, the x86-64 length decoder on every function, RET offsets, and the
 * clear errors for stripped, non-Go and net/http-less binaries.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import { parseGoVersion, readGoVersion } from "../lib/sources/go/build_info.ts";
import { NoDwarfError, readFieldOffsets } from "../lib/sources/go/dwarf.ts";
import { parseElf, SHF_COMPRESSED, STT_FUNC } from "../lib/sources/go/elf.ts";
import { splitHostPort, sqlOperation } from "../lib/sources/go/go_spans.ts";
import { loadGoSpec } from "../lib/config/go_spec.ts";
import { resolveOffsets, tableOffsets, WANTED_FIELDS } from "../lib/sources/go/offsets.ts";
import { inspectGoTarget } from "../lib/sources/go/target.ts";
import { decodeLength, findReturnOffsets } from "../lib/sources/go/x86_length.ts";
import { UserError } from "../lib/core/errors.ts";
import { ROOT } from "./support/ebpf.ts";
import { buildGoProgram, goSkipReason, goTempDir, requireRunnable, skipGoTest } from "./support/go_build.ts";

const assert = (cond: unknown, msg?: string) => ok(cond, msg);
const assertEquals = (actual: unknown, expected: unknown, msg?: string) => deepStrictEqual(actual, expected, msg);

/** The error `fn` rejects with; fails unless it is a `cls` whose message includes `includes`. */
async function assertRejects(
  fn: () => Promise<unknown>,
  cls: abstract new (...a: never[]) => Error,
  includes = "",
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    ok((e as Error).message.includes(includes), `"${(e as Error).message}" lacks "${includes}"`);
    return e as Error;
  }
  throw new Error(`expected a rejection with ${cls.name}`);
}

function assertThrows(fn: () => unknown, includes: string): void {
  try {
    fn();
  } catch (e) {
    ok((e as Error).message.includes(includes), `"${(e as Error).message}" lacks "${includes}"`);
    return;
  }
  throw new Error("expected an exception");
}

const reason = goSkipReason();
const skip = skipGoTest("go_binary_test.ts", reason);
const SPEC = loadGoSpec(`${ROOT}probes/go.yaml`);
const dec = new TextDecoder();

function tool(cmd: string, args: string[]): string {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Field offsets as readelf prints the DWARF (an independent reader), for the structs of `wanted`. */
function readelfOffsets(bin: string, wanted: Record<string, string[]> = WANTED_FIELDS): Map<string, number> {
  const text = tool("readelf", ["--debug-dump=info", bin]);
  const out = new Map<string, number>();
  let struct: string | undefined;
  let structLevel = -1;
  let member: string | undefined;
  for (const line of text.split("\n")) {
    const die = /^\s*<(\d+)><[0-9a-f]+>: Abbrev Number: \d+ \((DW_TAG_\w+)\)/.exec(line);
    if (die) {
      const level = Number(die[1]);
      if (level <= structLevel) struct = undefined;
      if (die[2] === "DW_TAG_structure_type") structLevel = level;
      member = die[2] === "DW_TAG_member" ? "" : undefined;
      if (die[2] === "DW_TAG_structure_type") struct = "";
      continue;
    }
    const name = /DW_AT_name\s*:\s*(?:\((?:indirect|indexed)[^)]*\): )?(.+)$/.exec(line);
    if (name) {
      if (struct === "" && member === undefined) struct = wanted[name[1].trim()] ? name[1].trim() : "-";
      else if (member === "") member = name[1].trim();
      continue;
    }
    const loc = /DW_AT_data_member_location\s*:\s*(\d+)/.exec(line);
    if (loc && struct && struct !== "-" && member && wanted[struct].includes(member)) {
      out.set(`${struct}.${member}`, Number(loc[1]));
    }
  }
  return out;
}

Deno.test({
  name: "go binary: ELF, build info, DWARF offsets (3 encodings), table, length decoder, RET offsets, errors",
  ignore: skip,
  async fn(t) {
    requireRunnable(reason);
    const dir = await goTempDir();
    try {
      const bin = await buildGoProgram("go_http", dir);
      const elf = parseElf(bin, await Deno.readFile(bin));

      await t.step("sections and symbols match readelf and nm", () => {
        const sections = tool("readelf", ["-SW", bin]);
        for (const name of [".text", ".go.buildinfo", ".debug_info", ".symtab", ".gopclntab"]) {
          const s = elf.section(name)!;
          assert(s, name);
          const m = new RegExp(`\\s${name.replace(/\./g, "\\.")}\\s+\\S+\\s+([0-9a-f]+)\\s+([0-9a-f]+)\\s+([0-9a-f]+)`)
            .exec(sections)!;
          assertEquals([s.addr, s.offset, s.size], [BigInt(`0x${m[1]}`), parseInt(m[2], 16), parseInt(m[3], 16)], name);
        }
        assert((elf.section(".debug_info")!.flags & SHF_COMPRESSED) !== 0n, "Go 1.19 compresses DWARF");
        const nm = tool("nm", ["-S", bin]);
        let checked = 0;
        for (const f of SPEC.functions) {
          const line = nm.split("\n").find((l) => l.endsWith(` ${f.symbol}`))!;
          const [addr, size] = line.split(" ");
          const sym = elf.symbols().get(f.symbol)!;
          assertEquals([sym.value, sym.size, sym.type], [BigInt(`0x${addr}`), parseInt(size, 16), STT_FUNC]);
          checked++;
        }
        assertEquals(checked, 5);
      });

      await t.step("build info gives the version `go version` prints", () => {
        const v = readGoVersion(elf);
        assertEquals(`${bin}: ${v.text}`, tool("go", ["version", bin]).trim());
        assertEquals(v.major, 1);
        assertEquals(parseGoVersion("go1.19.8"), { text: "go1.19.8", major: 1, minor: 19, patch: 8 });
      });

      const truth = readelfOffsets(bin);
      await t.step("DWARF field offsets match readelf, compressed (SHF_COMPRESSED), .zdebug and plain", async () => {
        const ours = await readFieldOffsets(elf, WANTED_FIELDS);
        assertEquals(ours.size, Object.values(WANTED_FIELDS).flat().length);
        assertEquals(Object.fromEntries(ours), Object.fromEntries(truth));
        for (const flag of ["--compress-debug-sections=zlib-gnu", "--decompress-debug-sections"]) {
          const copy = `${dir}/copy${flag.length}`;
          tool("objcopy", [flag, bin, copy]);
          const e = parseElf(copy, await Deno.readFile(copy));
          assertEquals(e.section(".zdebug_info") !== undefined, flag.includes("gnu"), flag);
          assertEquals(Object.fromEntries(await readFieldOffsets(e, WANTED_FIELDS)), Object.fromEntries(truth), flag);
        }
      });

      await t.step("the committed table equals this Go's DWARF; a binary without DWARF uses it", async () => {
        const v = readGoVersion(elf);
        const table = tableOffsets(v);
        assert(table, `no committed offsets for ${v.text}: run deno run -A scripts/go_offsets.ts`);
        assertEquals(Object.fromEntries(table!), Object.fromEntries(truth));
        const noDwarf = await buildGoProgram("go_http", dir, ["-ldflags=-w"], "go_http_nodwarf");
        const e = parseElf(noDwarf, await Deno.readFile(noDwarf));
        await assertRejects(() => readFieldOffsets(e, WANTED_FIELDS), NoDwarfError, "-ldflags=-w");
        const resolved = await resolveOffsets(e, v);
        assertEquals(resolved.source, "table");
        assert(resolved.headersReadable);
        assertEquals(Object.fromEntries(resolved.fields), Object.fromEntries(truth));
        await assertRejects(
          () => resolveOffsets(e, parseGoVersion("go1.18.1")),
          UserError,
          "no committed offsets table for go1.18.1",
        );
      });

      await t.step("x86-64 length decoder agrees with objdump on every function", () => {
        const text = elf.section(".text")!;
        const dump = tool("objdump", ["-d", "--no-show-raw-insn", "-j", ".text", bin]);
        const starts = new Set<number>();
        const rets = new Set<number>();
        for (const l of dump.split("\n")) {
          const m = /^\s+([0-9a-f]+):\t(\S+)/.exec(l);
          if (!m) continue;
          starts.add(parseInt(m[1], 16));
          if (m[2] === "ret") rets.add(parseInt(m[1], 16));
        }
        const code = elf.sectionBytes(text);
        const base = Number(text.addr);
        let functions = 0, instructions = 0;
        for (const s of elf.symbols().values()) {
          // sig.StandardCrypto and friends are marker bytes, not code
          if (s.type !== STT_FUNC || s.size === 0 || s.name.startsWith("crypto/internal/boring/sig.")) continue;
          const start = Number(s.value) - base;
          if (start < 0 || start >= code.length) continue;
          functions++;
          for (let at = start; at < start + s.size;) {
            assert(starts.has(at + base), `${s.name}: objdump has no instruction at 0x${(at + base).toString(16)}`);
            const d = decodeLength(code, at, start + s.size);
            if ("error" in d) throw new Error(`${s.name} +0x${(at - start).toString(16)}: ${d.error}`);
            assertEquals(d.ret, rets.has(at + base), `${s.name} +0x${(at - start).toString(16)}: RET?`);
            at += d.length;
            instructions++;
          }
        }
        console.log(`  decoded ${instructions} instructions in ${functions} functions, all at objdump's boundaries`);
        assert(functions > 4000 && instructions > 400_000);
        for (const f of SPEC.functions) {
          const sym = elf.symbols().get(f.symbol)!;
          const off = Number(sym.value) - base;
          const ours = findReturnOffsets(code.subarray(off, off + sym.size)).map((r) => r + Number(sym.value));
          const theirs = [...rets].filter((a) => a >= Number(sym.value) && a < Number(sym.value) + sym.size).sort();
          assert(ours.length > 0, f.symbol);
          assertEquals(ours, theirs, f.symbol);
        }
      });

      await t.step("decoder edge cases: prefixes, REX.W imm64, VEX, EVEX, moffs, truncation", () => {
        const len = (...b: number[]) => {
          const d = decodeLength(Uint8Array.from(b), 0);
          return "error" in d ? d.error : d.length;
        };
        assertEquals(len(0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8), 10); // movabs rax, imm64
        assertEquals(len(0x66, 0xb8, 1, 2), 4); // mov ax, imm16
        assertEquals(len(0xc5, 0xf8, 0x77), 3); // vzeroupper
        assertEquals(len(0xc4, 0xe3, 0x7d, 0x18, 0xc1, 0x01), 6); // vinsertf128 ymm0, ymm0, xmm1, 1
        assertEquals(len(0x62, 0xf1, 0x7c, 0x48, 0x28, 0x44, 0x24, 0x01), 8); // vmovaps zmm0, [rsp+0x40]
        assertEquals(len(0x48, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8), 10); // movabs rax, [moffs64]
        assertEquals(len(0xf3, 0xc3), 2); // rep ret
        assertEquals(len(0xf6, 0x04, 0x24, 0x01), 4); // test byte [rsp], 1
        assertEquals(len(0xf7, 0xd8), 2); // neg eax (no immediate)
        assertEquals(len(0x48, 0x8b), "truncated ModRM");
        assertEquals(len(0x06), "opcode 0x6 is invalid in 64-bit mode");
        assertThrows(() => findReturnOffsets(Uint8Array.of(0x90, 0x06)), "+0x1");
      });

      await t.step("clear errors: stripped, not Go, not ELF, Go without net/http", async () => {
        const stripped = await buildGoProgram("go_http", dir, ["-ldflags=-s -w"], "go_http_stripped");
        await assertRejects(() => inspectGoTarget({ exe: stripped }, SPEC.functions), UserError, "stripped");
        await assertRejects(() => inspectGoTarget({ exe: "/bin/true" }, SPEC.functions), UserError, "not a Go program");
        await assertRejects(
          () => inspectGoTarget({ exe: `${ROOT}probes/go.yaml` }, SPEC.functions),
          UserError,
          "no ELF header",
        );
        const bytes = await Deno.readFile(bin);
        const elf32 = bytes.slice(0, 4096);
        elf32[4] = 1;
        const bigEndian = bytes.slice(0, 4096);
        bigEndian[5] = 2;
        for (
          const [b, why] of [[elf32, "32-bit"], [bigEndian, "big-endian"], [
            bytes.slice(0, bytes.length >> 1),
            "truncated",
          ]] as const
        ) {
          let message = "";
          try {
            parseElf("x", b);
          } catch (e) {
            assert(e instanceof UserError && e.exitCode === 2, String(e));
            message = (e as Error).message;
          }
          assert(message.includes(why), `${why}: ${message}`);
        }
        const plain = await buildGoProgram("go_plain", dir);
        const e = await assertRejects(() => inspectGoTarget({ exe: plain }, SPEC.functions), UserError);
        assert(e.message.includes("without net/http") && e.message.includes("nothing attached"), e.message);
        assertEquals((e as UserError).exitCode, 2);
        await assertRejects(() => inspectGoTarget({ pid: 999_999_999 }, SPEC.functions), UserError, "no such process");
        const ok = await inspectGoTarget({ exe: bin }, SPEC.functions);
        assertEquals(ok.functions.map((f) => f.spec.symbol), SPEC.functions.map((f) => f.symbol));
        assertEquals(ok.offsets.source, "dwarf");
        // the status is read only behind HTTP/1's response writer: its itab hash is known and not HTTP/2's
        const h2 = elf.symbols().get("go.itab.*net/http.http2responseWriter,net/http.ResponseWriter")!;
        const h2Hash = new DataView(elf.bytes.buffer).getUint32(elf.fileOffset(h2.value)! + 16, true);
        assert(ok.offsets.responseItabHash !== undefined && ok.offsets.responseItabHash !== 0);
        assert(ok.offsets.responseItabHash !== h2Hash, "HTTP/1 and HTTP/2 writers differ");
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "DWARF reader: gcc's DWARF 4 and 5, plain and compressed, match readelf",
  ignore: skip,
  async fn() {
    requireRunnable(reason);
    const dir = await goTempDir();
    try {
      const src = `${dir}/shapes.c`;
      await Deno.writeTextFile(
        src,
        `struct point { char tag; long x; short y; void *next; };
struct box { struct point lo; struct point hi; unsigned char flags[3]; double area; };
struct box the_box;
int main(void) { return (int)sizeof(the_box); }
`,
      );
      const wanted = { point: ["tag", "x", "y", "next"], box: ["lo", "hi", "flags", "area"] };
      for (const flags of [["-gdwarf-4"], ["-gdwarf-5"], ["-gdwarf-5", "-gz=zlib"], ["-gdwarf-4", "-gz=zlib-gnu"]]) {
        const bin = `${dir}/shapes${flags.join("")}`;
        tool("cc", ["-O0", "-g", ...flags, "-o", bin, src]);
        const truth = readelfOffsets(bin, wanted);
        assertEquals(truth.size, 8, `readelf found the members (${flags.join(" ")})`);
        const ours = await readFieldOffsets(parseElf(bin, await Deno.readFile(bin)), wanted);
        assertEquals(Object.fromEntries(ours), Object.fromEntries(truth), flags.join(" "));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("go spans helpers: host:port and SQL operation", () => {
  assertEquals(splitHostPort("127.0.0.1:8080"), ["127.0.0.1", 8080]);
  assertEquals(splitHostPort("example.com"), ["example.com", undefined]);
  assertEquals(splitHostPort("[::1]:443"), ["::1", 443]);
  assertEquals(sqlOperation("  select * from t"), "SELECT");
  assertEquals(sqlOperation("-- comment"), undefined);
});
