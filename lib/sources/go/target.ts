/**
 * Inspecting a Go target before anything is attached: its binary (from
 * `--exe PATH`, or `/proc/PID/exe` read through libc), Go version, field
 * offsets, and for each traced function the file offsets of its entry and
 * of every RET instruction.
 * @module
 */
import { readSysFile, readSysText, SysError } from "../../ffi/sysfs.ts";
import { UserError } from "../../core/errors.ts";
import { type GoVersion, readGoVersion } from "./build_info.ts";
import { type ElfFile, parseElf, STT_FUNC } from "./elf.ts";
import type { GoFunctionSpec } from "../../config/go_spec.ts";
import { type GoOffsets, resolveOffsets } from "./offsets.ts";
import { dbSystemOf } from "./db_system.ts";
import { findReturnOffsets } from "./x86_length.ts";

/** A traced function located in the binary. */
export interface GoFunction {
  spec: GoFunctionSpec;
  /** File offset of the entry. */
  entry: number;
  /** File offsets of each RET. */
  returns: number[];
}

/** A Go target ready to attach to. */
export interface GoTarget {
  /** The path uprobes are attached to (`/proc/PID/exe` for a pid). */
  attachPath: string;
  /** The path for messages. */
  displayPath: string;
  pid?: number;
  /** The executable's name (for `service.name` and `process.executable.name`). */
  executableName: string;
  version: GoVersion;
  offsets: GoOffsets;
  functions: GoFunction[];
  /** Traced functions the binary does not have (not linked in). */
  missing: string[];
  /** `db.system.name` when the binary links exactly one known SQL driver. */
  dbSystem?: string;
}

/** Reads the target's bytes: the file at `exe`, or process `pid`'s executable. */
function readTarget(pid: number | undefined, exe: string | undefined): { path: string; bytes: Uint8Array } {
  if (pid !== undefined) {
    const path = `/proc/${pid}/exe`;
    try {
      return { path, bytes: readSysFile(path) };
    } catch (e) {
      const code = e instanceof SysError ? e.code : "";
      if (code === "ENOENT" || code === "ESRCH") throw new UserError(`--pid ${pid}: no such process`, 2);
      throw new UserError(`--pid ${pid}: cannot read its executable (${(e as Error).message})`, 1);
    }
  }
  try {
    return { path: exe!, bytes: Deno.readFileSync(exe!) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UserError(`--exe ${exe}: no such file`, 2);
    throw new UserError(`--exe ${exe}: cannot read it (${(e as Error).message})`, 2);
  }
}

/** Entry and RET file offsets of function `symbol` in `elf`; undefined when the binary lacks it. */
export function locateFunction(elf: ElfFile, symbol: string): { entry: number; returns: number[] } | undefined {
  const sym = elf.symbols().get(symbol);
  if (!sym || sym.type !== STT_FUNC || sym.size === 0) return undefined;
  const entry = elf.fileOffset(sym.value);
  if (entry === undefined) throw new UserError(`${elf.path}: function ${symbol} lies outside the file's sections`, 2);
  let rets: number[];
  try {
    rets = findReturnOffsets(elf.bytes.subarray(entry, entry + sym.size));
  } catch (e) {
    throw new UserError(`${elf.path}: ${symbol}: ${(e as Error).message}; cannot place its return probes`, 1);
  }
  return { entry, returns: rets.map((r) => entry + r) };
}

/**
 * Inspects the target (`pid` or `exe`) for `functions`. UserErrors (exit 2)
 * for: no such process or file, not an x86-64 ELF, not Go, Go older than
 * 1.17 (no register ABI), no symbol table (stripped), no offsets, and none
 * of the functions present (nothing to trace).
 */
export async function inspectGoTarget(
  target: { pid?: number; exe?: string },
  functions: GoFunctionSpec[],
): Promise<GoTarget> {
  const { path, bytes } = readTarget(target.pid, target.exe);
  const displayPath = target.pid !== undefined ? `${path} (pid ${target.pid})` : path;
  const elf = parseElf(displayPath, bytes);
  if (elf.machine !== 62) {
    throw new UserError(`${displayPath}: ELF machine ${elf.machine}: only x86-64 Go programs are supported`, 2);
  }
  const version = readGoVersion(elf);
  if (version.major !== 1 || version.minor < 17) {
    throw new UserError(
      `${displayPath}: built with ${version.text}: the Go probe needs Go 1.17 or newer (register ABI)`,
      2,
    );
  }
  if (elf.symbols().size === 0) {
    throw new UserError(
      `${displayPath}: stripped (no symbol table .symtab): the Go probe finds functions by symbol; ` +
        "rebuild without -ldflags=-s (and without strip)",
      2,
    );
  }
  const found: GoFunction[] = [];
  const missing: string[] = [];
  for (const spec of functions) {
    const loc = locateFunction(elf, spec.symbol);
    if (loc) found.push({ spec, ...loc });
    else missing.push(spec.symbol);
  }
  if (!found.some((f) => !f.spec.context)) {
    throw new UserError(
      `${displayPath}: ${version.text} program without net/http or database/sql: none of ${
        functions.filter((f) => !f.context).map((f) => f.symbol).join(", ")
      } is linked in; nothing to trace, nothing attached`,
      2,
    );
  }
  const offsets = await resolveOffsets(elf, version);
  let executableName = (target.exe ?? "").replace(/^.*\//, "");
  if (target.pid !== undefined) {
    try {
      executableName = readSysText(`/proc/${target.pid}/comm`).trim();
    } catch { /* exited: the name stays empty */ }
  }
  return {
    attachPath: path,
    displayPath,
    pid: target.pid,
    executableName,
    version,
    offsets,
    functions: found,
    missing,
    dbSystem: dbSystemOf(elf.symbols().keys()),
  };
}
