/**
 * The few libc functions the ring-buffer source needs, bound through Deno FFI:
 * clocks, `poll`, `mmap`/`munmap`, `vsnprintf` (for libbpf's log) and `errno`.
 *
 * Opened lazily, once per process. Requires `--allow-ffi` (unscoped: pointer
 * views and callbacks are refused under a path-scoped grant).
 * @module
 */

const SYMBOLS = {
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  poll_nb: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  mmap: {
    parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"],
    result: "pointer",
  },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  vsnprintf: {
    parameters: ["buffer", "usize", "pointer", "pointer"],
    result: "i32",
  },
  __errno_location: { parameters: [], result: "pointer" },
  geteuid: { parameters: [], result: "u32" },
  getrusage: { parameters: ["i32", "buffer"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait_nb: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  close: { parameters: ["i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  access: { parameters: ["buffer", "i32"], result: "i32" },
  opendir: { parameters: ["buffer"], result: "pointer" },
  readdir: { parameters: ["pointer"], result: "pointer" },
  closedir: { parameters: ["pointer"], result: "i32" },
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** libc, opened on first use (glibc's `libc.so.6`). */
export function libc(): Libc {
  lib ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return lib.symbols;
}

/** The calling thread's `errno` (meaningful right after a failed synchronous call). */
export function errno(): number {
  const p = libc().__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32(0) : 0;
}

/** POSIX clock ids. */
export const CLOCK = { REALTIME: 0, MONOTONIC: 1, BOOTTIME: 7 } as const;

const ts = new BigInt64Array(2);
const tsBytes = new Uint8Array(ts.buffer);

/** `clock_gettime(clock)` in nanoseconds. */
export function clockNs(clock: number): bigint {
  libc().clock_gettime(clock, tsBytes);
  return ts[0] * 1_000_000_000n + ts[1];
}

/** The system page size in bytes. */
export function pageSize(): number {
  return Number(libc().sysconf(30 /* _SC_PAGESIZE */));
}

/** Whether the process runs with effective uid 0. */
export function isRoot(): boolean {
  return libc().geteuid() === 0;
}

/** `mmap` protection and flag bits used here. */
export const MMAP = {
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
} as const;

/** epoll constants (`struct epoll_event` is 12 bytes, packed, on x86_64). */
export const EPOLL = { IN: 0x1, ET: 0x80000000, CTL_ADD: 1, CLOEXEC: 0x80000 } as const;

/** `poll` event bits. */
export const POLL = { IN: 0x1, ERR: 0x8, HUP: 0x10, NVAL: 0x20 } as const;

/** Whether `p` is `MAP_FAILED` ((void *)-1) or NULL. */
export function mmapFailed(p: Deno.PointerValue): boolean {
  return p === null || Deno.UnsafePointer.value(p) === 0xffff_ffff_ffff_ffffn;
}

const rusage = new BigInt64Array(18); // struct rusage: 144 bytes on 64-bit Linux

/** CPU time (user + system) used by this process so far, all threads, in µs. */
export function processCpuUs(): number {
  libc().getrusage(0, /* RUSAGE_SELF */ new Uint8Array(rusage.buffer));
  return Number(rusage[0] * 1_000_000n + rusage[1] + rusage[2] * 1_000_000n + rusage[3]);
}
