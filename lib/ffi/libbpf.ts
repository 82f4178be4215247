/**
 * libbpf 1.x bound through Deno FFI: the symbols spanprobe uses, and where to
 * find `libbpf.so.1`.
 *
 * libbpf 1.x conventions: int-returning calls return `-errno`; pointer
 * returning calls return NULL and set `errno`.
 * @module
 */

const SYMBOLS = {
  libbpf_major_version: { parameters: [], result: "u32" },
  libbpf_minor_version: { parameters: [], result: "u32" },
  libbpf_set_print: { parameters: ["function"], result: "pointer" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  libbpf_strerror: { parameters: ["i32", "buffer", "usize"], result: "i32" },

  bpf_object__open_file: {
    parameters: ["buffer", "pointer"],
    result: "pointer",
  },
  /** Opens an object from memory (the objects embedded in the compiled binary: libbpf cannot see its files). */
  bpf_object__open_mem: {
    parameters: ["buffer", "usize", "pointer"],
    result: "pointer",
  },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__btf: { parameters: ["pointer"], result: "pointer" },
  bpf_object__next_program: {
    parameters: ["pointer", "pointer"],
    result: "pointer",
  },
  bpf_object__next_map: {
    parameters: ["pointer", "pointer"],
    result: "pointer",
  },
  bpf_object__find_map_by_name: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },

  bpf_program__name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__section_name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__autoattach: { parameters: ["pointer"], result: "bool" },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_program__attach_usdt: {
    parameters: ["pointer", "i32", "buffer", "buffer", "buffer", "pointer"],
    result: "pointer",
  },
  bpf_program__attach_uprobe_opts: {
    parameters: ["pointer", "i32", "buffer", "usize", "buffer"],
    result: "pointer",
  },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  /** Detaching a tracepoint waits for RCU grace periods (~70 ms): off the JS thread, in parallel. */
  bpf_link__destroy_nb: {
    name: "bpf_link__destroy",
    parameters: ["pointer"],
    result: "i32",
    nonblocking: true,
  },

  bpf_map__name: { parameters: ["pointer"], result: "pointer" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__type: { parameters: ["pointer"], result: "i32" },
  bpf_map__key_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__value_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__max_entries: { parameters: ["pointer"], result: "u32" },

  bpf_map_lookup_elem: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
  bpf_map_update_elem: {
    parameters: ["i32", "buffer", "buffer", "u64"],
    result: "i32",
  },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_map_get_next_key: {
    parameters: ["i32", "pointer", "buffer"],
    result: "i32",
  },

  btf__find_by_name_kind: {
    parameters: ["pointer", "buffer", "u32"],
    result: "i32",
  },
  btf__type_by_id: { parameters: ["pointer", "u32"], result: "pointer" },
  btf__resolve_size: { parameters: ["pointer", "u32"], result: "i64" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound libbpf symbols. */
export type LibbpfSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** An opened libbpf. */
export interface Libbpf {
  /** Absolute path it was opened from. */
  readonly path: string;
  /** `major.minor`. */
  readonly version: string;
  readonly sym: LibbpfSymbols;
}

/** Directories searched for `libbpf.so.1`, in order. */
export const LIBBPF_DIRS: readonly string[] = [
  "/usr/lib/x86_64-linux-gnu",
  "/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/lib64",
  "/usr/local/lib",
  "/usr/local/lib64",
  "/usr/lib",
  "/lib",
];

/** Map types by number (the ones spanprobe cares about). */
export const MAP_TYPE = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  RINGBUF: 27,
} as const;

/** BTF kinds used here. */
export const BTF_KIND = { VAR: 14 } as const;

const opened = new Map<string, Libbpf>();

/**
 * Opens libbpf 1.x: `path` when given (must be absolute), otherwise the first
 * `libbpf.so.1` found in {@linkcode LIBBPF_DIRS}. Cached per path.
 * Throws an `Error` naming every place tried.
 */
export function openLibbpf(path?: string): Libbpf {
  const candidates = path ? [path] : LIBBPF_DIRS.map((d) => `${d}/libbpf.so.1`);
  if (path && !path.startsWith("/")) {
    throw new Error(
      `libbpf path must be absolute, got ${JSON.stringify(path)}`,
    );
  }
  const failures: string[] = [];
  for (const candidate of candidates) {
    const cached = opened.get(candidate);
    if (cached) return cached;
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(candidate, SYMBOLS);
    } catch (e) {
      if (
        e instanceof Deno.errors.NotCapable ||
        e instanceof Deno.errors.PermissionDenied
      ) {
        throw new Error(
          `loading ${candidate} needs FFI permission: run with --allow-ffi`,
        );
      }
      const msg = (e as Error).message.split("\n")[0].replace(/^(Could not open library: )+/, "");
      failures.push(`${candidate}: ${msg}`);
      continue;
    }
    const major = lib.symbols.libbpf_major_version();
    const minor = lib.symbols.libbpf_minor_version();
    if (major < 1) {
      lib.close();
      failures.push(
        `${candidate}: libbpf ${major}.${minor} is too old (need 1.x)`,
      );
      continue;
    }
    const found = {
      path: candidate,
      version: `${major}.${minor}`,
      sym: lib.symbols,
    };
    opened.set(candidate, found);
    return found;
  }
  throw new Error(
    `libbpf 1.x not found (install libbpf1, or pass its absolute path); tried:\n  ${failures.join("\n  ")}`,
  );
}

const encoder = new TextEncoder();

/** `s` as a NUL-terminated C string buffer. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The C string at `p` (empty for NULL). */
export function readCString(p: Deno.PointerValue): string {
  return p ? Deno.UnsafePointerView.getCString(p) : "";
}

/** Whether a pointer is NULL. */
export function isNull(p: Deno.PointerValue): p is null {
  return p === null || Deno.UnsafePointer.value(p) === 0n;
}
