/**
 * A loaded BPF object (`.bpf.o`): open + load with libbpf, attach every
 * program, find and use maps, and tear everything down (links destroyed,
 * object closed) on close and on every error path.
 * @module
 */
import type { Logger } from "../telemetry/log.ts";
import { attachError, loadError, missingMapError, openError } from "./bpf_errors.ts";
import { BTF_KIND, cstr, isNull, type Libbpf, openLibbpf, readCString } from "./libbpf.ts";
import { installLibbpfLog, withLibbpfLog } from "./libbpf_log.ts";
import { errno } from "./libc.ts";
import { sysPathExists } from "./sysfs.ts";
import { UserError } from "../core/errors.ts";

/** Where to attach a program whose section names no target (e.g. `SEC("usdt")`). */
export interface AttachTarget {
  /** The program (function) name in the object. */
  program: string;
  /** A USDT probe in `binary` (absolute path); all processes unless `pid`. */
  usdt?: { binary: string; provider: string; name: string; pid?: number };
  /** A function entry (or return) in `binary`. */
  uprobe?: { binary: string; symbol: string; retprobe?: boolean; pid?: number };
}

/** A map of a loaded object. */
export interface BpfMap {
  readonly name: string;
  readonly fd: number;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Read `key` into `value`; false when absent. Throws on other errors. */
  lookup(key: Uint8Array<ArrayBuffer>, value: Uint8Array<ArrayBuffer>): boolean;
  /** Write `value` at `key` (`flags`: 0 any, 1 no-exist, 2 exist). Throws on error. */
  update(
    key: Uint8Array<ArrayBuffer>,
    value: Uint8Array<ArrayBuffer>,
    flags?: number,
  ): void;
  /** Delete `key`; false when absent. */
  delete(key: Uint8Array<ArrayBuffer>): boolean;
  /** All keys (hash maps; a snapshot). */
  keys(): Uint8Array<ArrayBuffer>[];
}

/** A program of a loaded object. */
export interface BpfProgramInfo {
  readonly name: string;
  readonly section: string;
  /** Whether it is attached. */
  attached: boolean;
}

/** A loaded (and optionally attached) BPF object. */
export interface BpfObject {
  readonly path: string;
  readonly libbpf: Libbpf;
  readonly programs: readonly BpfProgramInfo[];
  /** Names of all maps, including internal ones (`.bss`, `.rodata`). */
  mapNames(): string[];
  /** The map called `name`; a UserError naming the available maps if absent. */
  map(name: string): BpfMap;
  /** Whether a map called `name` exists. */
  hasMap(name: string): boolean;
  /** Size in bytes of the BTF global variable `name`, when the object declares one. */
  btfVarSize(name: string): number | undefined;
  /**
   * Attach every program (autoattach ones by their section, the others by
   * `targets`). On failure, links made so far are destroyed and a UserError
   * names the program and attach point.
   */
  attachAll(targets?: AttachTarget[]): void;
  /**
   * Attach `program` as a uprobe at file offset `offset` of `binary` (an
   * instruction, not a symbol: e.g. each `RET` of a Go function), for process
   * `pid` or all processes. A program may get any number of such links; they
   * are destroyed with the object. Throws a UserError naming the place.
   */
  attachUprobeAt(program: string, binary: string, offset: number, pid?: number): void;
  /** Number of live links. */
  linkCount(): number;
  /** Destroy all links and close the object. Idempotent. */
  close(): void;
  /**
   * Like {@linkcode BpfObject.close}, but detaches the links in parallel off
   * the JS thread (each tracepoint detach waits ~70 ms for the kernel). Idempotent.
   */
  closeAsync(): Promise<void>;
}

/** Options of {@linkcode loadBpfObject}. */
export interface LoadOptions {
  logger: Logger;
  /** Absolute path of libbpf.so.1 (searched when omitted). */
  libbpfPath?: string;
  /**
   * The object's bytes, when libbpf cannot open `path` itself (an object
   * embedded in the compiled binary lives in Deno's virtual file system);
   * `path` then only names it in messages.
   */
  bytes?: Uint8Array<ArrayBuffer>;
}

/** `bpf_object__open_file`, or `bpf_object__open_mem` when the bytes are given; NULL + errno on failure. */
function openObject(lib: Libbpf, path: string, bytes?: Uint8Array<ArrayBuffer>): Deno.PointerValue {
  return bytes
    ? lib.sym.bpf_object__open_mem(bytes, BigInt(bytes.length), null)
    : lib.sym.bpf_object__open_file(cstr(path), null);
}

/**
 * libbpf with its log routed to the logger, and the object at `path` (or
 * `options.bytes`) opened, not loaded. Throws a UserError: exit
 * `libbpfMissingCode` when libbpf cannot be opened, the open error otherwise.
 */
function openWithLibbpf(
  path: string,
  options: LoadOptions,
  libbpfMissingCode: number,
): { lib: Libbpf; obj: Deno.PointerObject } {
  let lib: Libbpf;
  try {
    lib = openLibbpf(options.libbpfPath);
  } catch (e) {
    throw new UserError((e as Error).message, libbpfMissingCode);
  }
  installLibbpfLog(lib, options.logger);
  const opened = withLibbpfLog(options.logger, () => {
    const obj = openObject(lib, path, options.bytes);
    return { obj, err: isNull(obj) ? errno() : 0 };
  });
  const obj = opened.result.obj;
  if (isNull(obj)) throw openError(path, opened.result.err || 22, opened.lines);
  return { lib, obj };
}

/**
 * Opens and loads the object at `path`. Throws a UserError on failure with
 * nothing left behind (the object is closed).
 */
export function loadBpfObject(path: string, options: LoadOptions): BpfObject {
  const { logger } = options;
  const { lib, obj } = openWithLibbpf(path, options, 1);
  const s = lib.sym;

  const loaded = withLibbpfLog(logger, () => s.bpf_object__load(obj));
  if (loaded.result < 0) {
    withLibbpfLog(logger, () => s.bpf_object__close(obj));
    throw loadError(path, loaded.result, loaded.lines);
  }

  const programs: (BpfProgramInfo & { ptr: Deno.PointerObject })[] = [];
  for (
    let p = s.bpf_object__next_program(obj, null);
    !isNull(p);
    p = s.bpf_object__next_program(obj, p)
  ) {
    programs.push({
      ptr: p,
      name: readCString(s.bpf_program__name(p)),
      section: readCString(s.bpf_program__section_name(p)),
      attached: false,
    });
  }
  const mapPtrs = new Map<string, Deno.PointerObject>();
  for (
    let m = s.bpf_object__next_map(obj, null);
    !isNull(m);
    m = s.bpf_object__next_map(obj, m)
  ) {
    mapPtrs.set(readCString(s.bpf_map__name(m)), m);
  }

  const links: Deno.PointerObject[] = [];
  let closed = false;

  function destroyLinks(): void {
    while (links.length) {
      const link = links.pop()!;
      withLibbpfLog(logger, () => s.bpf_link__destroy(link));
    }
    for (const p of programs) p.attached = false;
  }

  function attachOne(
    p: (typeof programs)[number],
    target: AttachTarget | undefined,
  ): void {
    let where: string | undefined;
    let binaryMissing: boolean | undefined;
    const binary = target?.usdt?.binary ?? target?.uprobe?.binary;
    if (binary) binaryMissing = !sysPathExists(binary);
    const res = withLibbpfLog(logger, () => {
      let link: Deno.PointerValue;
      if (target?.usdt) {
        const u = target.usdt;
        where = `usdt ${u.binary}:${u.provider}:${u.name}`;
        link = s.bpf_program__attach_usdt(
          p.ptr,
          u.pid ?? -1,
          cstr(u.binary),
          cstr(u.provider),
          cstr(u.name),
          null,
        );
      } else if (target?.uprobe) {
        const u = target.uprobe;
        where = `${u.retprobe ? "uretprobe" : "uprobe"} ${u.binary}:${u.symbol}`;
        const name = cstr(u.symbol);
        const opts = new BigUint64Array(5); // struct bpf_uprobe_opts, 40 bytes
        opts[0] = 40n;
        opts[3] = u.retprobe ? 1n : 0n;
        opts[4] = Deno.UnsafePointer.value(Deno.UnsafePointer.of(name));
        link = s.bpf_program__attach_uprobe_opts(
          p.ptr,
          u.pid ?? -1,
          cstr(u.binary),
          0n,
          new Uint8Array(opts.buffer),
        );
        void name; // keep alive across the call
      } else {
        link = s.bpf_program__attach(p.ptr);
      }
      return { link, err: isNull(link) ? errno() : 0 };
    });
    const { link, err } = res.result;
    if (isNull(link)) {
      throw attachError(path, p.name, p.section, err || 22, res.lines, where, binaryMissing);
    }
    links.push(link);
    p.attached = true;
    logger.debug("attached BPF program", {
      object: path,
      program: p.name,
      section: p.section,
      target: where,
    });
  }

  const keepAlive = options.bytes; // libbpf may refer to the buffer until close
  const object: BpfObject = {
    path,
    libbpf: lib,
    programs,
    mapNames: () => [...mapPtrs.keys()],
    hasMap: (name) => mapPtrs.has(name),
    map(name) {
      const m = mapPtrs.get(name);
      if (!m || closed) {
        throw missingMapError(
          path,
          name,
          [...mapPtrs.keys()].filter((n) => !n.includes(".")),
        );
      }
      return wrapMap(lib, name, m);
    },
    btfVarSize: (name) => btfVarSizeOf(s, obj, name),
    attachAll(targets = []) {
      if (closed) throw new Error(`BPF object ${path} is closed`);
      for (const t of targets) {
        if (!programs.some((p) => p.name === t.program)) {
          throw new UserError(
            `attach target names program "${t.program}", which ${path} does not have ` +
              `(programs: ${programs.map((p) => p.name).join(", ")})`,
            2,
          );
        }
      }
      try {
        for (const p of programs) {
          if (p.attached) continue;
          attachOne(p, targets.find((t) => t.program === p.name));
        }
      } catch (e) {
        destroyLinks();
        throw e;
      }
    },
    attachUprobeAt(program, binary, offset, pid) {
      if (closed) throw new Error(`BPF object ${path} is closed`);
      const p = programs.find((x) => x.name === program);
      if (!p) throw new UserError(`${path} has no program "${program}"`, 2);
      const where = `uprobe ${binary}+0x${offset.toString(16)}`;
      const res = withLibbpfLog(logger, () => {
        const opts = new BigUint64Array(5); // struct bpf_uprobe_opts, 40 bytes; no func_name: offset is a file offset
        opts[0] = 40n;
        const link = s.bpf_program__attach_uprobe_opts(
          p.ptr,
          pid ?? -1,
          cstr(binary),
          BigInt(offset),
          new Uint8Array(opts.buffer),
        );
        return { link, err: isNull(link) ? errno() : 0 };
      });
      const { link, err } = res.result;
      if (isNull(link)) {
        throw attachError(path, p.name, p.section, err || 22, res.lines, where, !sysPathExists(binary));
      }
      links.push(link);
      p.attached = true;
    },
    linkCount: () => links.length,
    close() {
      if (closed) return;
      closed = true;
      destroyLinks();
      withLibbpfLog(logger, () => s.bpf_object__close(obj));
      void keepAlive;
    },
    async closeAsync() {
      if (closed) return;
      closed = true;
      const pending = links.splice(0);
      for (const p of programs) p.attached = false;
      await Promise.all(pending.map((l) => s.bpf_link__destroy_nb(l)));
      withLibbpfLog(logger, () => s.bpf_object__close(obj));
    },
  };
  return object;
}

/** What an opened but not loaded object declares: checked by `spanprobe check`. */
export interface BpfObjectInfo {
  readonly path: string;
  /** Programs: name and section. */
  readonly programs: readonly { name: string; section: string }[];
  /** Map names (internal ones such as `.rodata` included) and their types. */
  readonly maps: ReadonlyMap<string, number>;
  /** Size in bytes of the BTF global variable `name`, when the object declares one. */
  btfVarSize(name: string): number | undefined;
}

function btfVarSizeOf(s: Libbpf["sym"], obj: Deno.PointerObject, name: string): number | undefined {
  const btf = s.bpf_object__btf(obj);
  if (isNull(btf)) return undefined;
  const id = s.btf__find_by_name_kind(btf, cstr(name), BTF_KIND.VAR);
  if (id <= 0) return undefined;
  const t = s.btf__type_by_id(btf, id);
  if (isNull(t)) return undefined;
  const typeId = new Deno.UnsafePointerView(t).getUint32(8);
  const size = Number(s.btf__resolve_size(btf, typeId));
  return size > 0 ? size : undefined;
}

/**
 * Opens the object at `path` without loading it (nothing reaches the
 * kernel: no privilege needed), hands what it declares to `use`, and closes
 * it. Throws a UserError when it is not a usable BPF object.
 */
export function inspectBpfObject<T>(path: string, options: LoadOptions, use: (info: BpfObjectInfo) => T): T {
  const { logger } = options;
  const { lib, obj } = openWithLibbpf(path, options, 2);
  const s = lib.sym;
  try {
    const programs: { name: string; section: string }[] = [];
    for (let p = s.bpf_object__next_program(obj, null); !isNull(p); p = s.bpf_object__next_program(obj, p)) {
      programs.push({
        name: readCString(s.bpf_program__name(p)),
        section: readCString(s.bpf_program__section_name(p)),
      });
    }
    const maps = new Map<string, number>();
    for (let m = s.bpf_object__next_map(obj, null); !isNull(m); m = s.bpf_object__next_map(obj, m)) {
      maps.set(readCString(s.bpf_map__name(m)), s.bpf_map__type(m));
    }
    return use({ path, programs, maps, btfVarSize: (name) => btfVarSizeOf(s, obj, name) });
  } finally {
    withLibbpfLog(logger, () => s.bpf_object__close(obj));
  }
}

function wrapMap(lib: Libbpf, name: string, m: Deno.PointerObject): BpfMap {
  const s = lib.sym;
  const fd = s.bpf_map__fd(m);
  const check = (rc: number, op: string) => {
    if (rc < 0) {
      throw new Error(`${op} on BPF map "${name}" failed: errno ${-rc}`);
    }
  };
  return {
    name,
    fd,
    type: s.bpf_map__type(m),
    keySize: s.bpf_map__key_size(m),
    valueSize: s.bpf_map__value_size(m),
    maxEntries: s.bpf_map__max_entries(m),
    lookup(key, value) {
      const rc = s.bpf_map_lookup_elem(fd, key, value);
      if (rc === -2) return false;
      check(rc, "lookup");
      return true;
    },
    update(key, value, flags = 0) {
      check(s.bpf_map_update_elem(fd, key, value, BigInt(flags)), "update");
    },
    delete(key) {
      const rc = s.bpf_map_delete_elem(fd, key);
      if (rc === -2) return false;
      check(rc, "delete");
      return true;
    },
    keys() {
      const size = s.bpf_map__key_size(m);
      const out: Uint8Array<ArrayBuffer>[] = [];
      let prev: Uint8Array<ArrayBuffer> | null = null;
      for (;;) {
        const next = new Uint8Array(size);
        // A NULL key asks for the first key.
        const rc = s.bpf_map_get_next_key(
          fd,
          prev ? Deno.UnsafePointer.of(prev) : null,
          next,
        );
        if (rc === -2) return out;
        check(rc, "get_next_key");
        out.push(next);
        prev = next;
      }
    },
  };
}

/** Number of possible CPUs (the per-CPU value count of per-CPU maps). */
export function possibleCpus(lib: Libbpf): number {
  return lib.sym.libbpf_num_possible_cpus();
}
