/**
 * `cgroup`: a cgroup v2 id (the cgroup directory's inode number, as from
 * `bpf_get_current_cgroup_id`) as its path under the cgroup mount;
 * `unknown_cgroup_id:<id>` when not found. The id → path table is rebuilt
 * on a miss, at most once per second. The mount is the cgroup2 one from
 * /proc/self/mounts (e.g. `/sys/fs/cgroup/unified` on hybrid systems).
 * @module
 */
import { listSysDir, readKernelText, type SysDirEntry } from "../ffi/sysfs.ts";
import { numericText, parseUintText } from "./bytes.ts";
import type { DecoderFactory } from "./types.ts";

/** The cgroup v2 mount point (from /proc/self/mounts), default `/sys/fs/cgroup`. */
export function cgroup2Root(): string {
  try {
    for (const line of readKernelText("/proc/self/mounts").split("\n")) {
      const f = line.split(" ");
      if (f[2] === "cgroup2") return f[1].replace(/\\040/g, " ");
    }
  } catch { /* not readable */ }
  return "/sys/fs/cgroup";
}

/** Records `dir` (inode `ino`) and its subdirectories: a directory's inode is its cgroup id. */
function walk(dir: string, out: Map<string, string>, depth: number): void {
  let entries: SysDirEntry[];
  try {
    entries = listSysDir(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.name === ".") out.set(String(e.ino), dir);
    else if (e.type === "dir" && depth < 32) walk(`${dir}/${e.name}`, out, depth + 1);
  }
}

/** Creates a `cgroup` decoder. */
export const cgroupDecoder: DecoderFactory = (_config, env) => {
  let root = env.cgroupRoot;
  let table = new Map<string, string>();
  let lastScan = -Infinity;
  const text = (input: string) => {
    parseUintText(input, "cgroup");
    let path = table.get(input);
    if (path === undefined && performance.now() - lastScan > 1000) {
      lastScan = performance.now();
      const fresh = new Map<string, string>();
      root ??= cgroup2Root();
      walk(root, fresh, 0);
      table = fresh;
      path = table.get(input);
    }
    return path ?? `unknown_cgroup_id:${input}`;
  };
  return {
    name: "cgroup",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
