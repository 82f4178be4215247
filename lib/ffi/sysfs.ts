/**
 * Reading /proc and /sys through libc. Deno 2.9 grants those paths only
 * with `--allow-all`, even when `--allow-read` names them; the ring-buffer
 * source already needs unscoped `--allow-ffi` (which is as powerful), so
 * kernel facts are read through libc instead and no broader flag is needed.
 * @module
 */
import { errnoMessage, errnoName } from "./errno_names.ts";
import { errno, libc } from "./libc.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function cpath(path: string): Uint8Array<ArrayBuffer> {
  const b = encoder.encode(path);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** An error from a libc file call, with the errno's name (e.g. `ENOENT`) as `code`. */
export class SysError extends Error {
  readonly code: string;
  constructor(op: string, path: string, err: number) {
    super(`${op} ${path}: ${errnoMessage(err)}`);
    this.name = "SysError";
    this.code = errnoName(err) ?? String(err);
  }
}

/** The whole content of `path` (kernel files report size 0: read until EOF). */
export function readSysFile(path: string): Uint8Array {
  const c = libc();
  const fd = c.open(cpath(path), 0x80000 /* O_RDONLY | O_CLOEXEC */);
  if (fd < 0) throw new SysError("open", path, errno());
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(256 * 1024);
      const n = Number(c.read(fd, chunk, BigInt(chunk.length)));
      if (n < 0) throw new SysError("read", path, errno());
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const ch of chunks) {
      out.set(ch, o);
      o += ch.length;
    }
    return out;
  } finally {
    c.close(fd);
  }
}

/** {@linkcode readSysFile} as UTF-8 text. */
export function readSysText(path: string): string {
  return decoder.decode(readSysFile(path));
}

/** Whether `path` exists (`access(F_OK)`). */
export function sysPathExists(path: string): boolean {
  return libc().access(cpath(path), 0) === 0;
}

/** A directory entry: name, inode number and type (`dir`, `link`, `file` or `other`). */
export interface SysDirEntry {
  name: string;
  ino: bigint;
  type: "dir" | "link" | "file" | "other";
}

const DT: Record<number, SysDirEntry["type"]> = { 4: "dir", 10: "link", 8: "file" };

/** The entries of directory `path`, `.` included (its inode is the directory's own), `..` left out. */
export function listSysDir(path: string): SysDirEntry[] {
  const c = libc();
  const dir = c.opendir(cpath(path));
  if (!dir) throw new SysError("opendir", path, errno());
  const out: SysDirEntry[] = [];
  try {
    for (let e = c.readdir(dir); e; e = c.readdir(dir)) {
      // struct dirent (glibc, 64-bit): d_ino u64 @0, d_off @8, d_reclen u16 @16, d_type u8 @18, d_name @19.
      const v = new Deno.UnsafePointerView(e);
      const name = v.getCString(19);
      if (name === "..") continue;
      out.push({ name, ino: v.getBigUint64(0), type: DT[v.getUint8(18)] ?? "other" });
    }
  } finally {
    c.closedir(dir);
  }
  return out;
}

/** Text of `path`: kernel files (/proc, /sys) through libc, others with Deno's file API. */
export function readKernelText(path: string): string {
  return /^\/(proc|sys)\//.test(path) ? readSysText(path) : Deno.readTextFileSync(path);
}

/** The target of symbolic link `path` (e.g. /proc/PID/exe), through libc `readlink`. */
export function readSysLink(path: string): string {
  const buf = new Uint8Array(4096);
  const n = Number(libc().readlink(cpath(path), buf, BigInt(buf.length)));
  if (n < 0) throw new SysError("readlink", path, errno());
  return decoder.decode(buf.subarray(0, n));
}

/** Up to `length` bytes of `path` from `offset` (fewer at its end), through libc `pread`. */
export function readSysRange(path: string, offset: number, length: number): Uint8Array {
  const c = libc();
  const fd = c.open(cpath(path), 0x80000 /* O_RDONLY | O_CLOEXEC */);
  if (fd < 0) throw new SysError("open", path, errno());
  try {
    const out = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = Number(c.pread(fd, out.subarray(got), BigInt(length - got), BigInt(offset + got)));
      if (n < 0) throw new SysError("pread", path, errno());
      if (n === 0) break;
      got += n;
    }
    return out.subarray(0, got);
  } finally {
    c.close(fd);
  }
}
