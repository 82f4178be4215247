/**
 * Processes to select when the probe starts. Already listening on selected
 * ports:
 * found from /proc/net/tcp{,6} (sockets in LISTEN state, by inode) and
 * /proc/PID/fd links (`socket:[inode]`), read through libc. Without this, a
 * server whose clients keep their connections open would be traced only
 * from its next accept.
 * @module
 */
import { listSysDir, readSysLink, readSysText } from "../../ffi/sysfs.ts";

const LISTEN = "0A";

/** Inodes of TCP sockets listening on `ports`, from /proc/net/tcp and tcp6 text. */
export function listeningInodes(tables: string[], ports: ReadonlySet<number>): Set<string> {
  const out = new Set<string>();
  for (const text of tables) {
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length < 10 || f[3] !== LISTEN) continue;
      const port = parseInt(f[1].slice(f[1].lastIndexOf(":") + 1), 16);
      if (ports.has(port) && f[9] !== "0") out.add(f[9]);
    }
  }
  return out;
}

/** Pids of processes holding a socket listening on one of `ports` (best effort: unreadable entries are skipped). */
export function pidsListeningOn(ports: number[]): number[] {
  if (ports.length === 0) return [];
  const tables: string[] = [];
  for (const t of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      tables.push(readSysText(t));
    } catch { /* no IPv6 */ }
  }
  const inodes = listeningInodes(tables, new Set(ports));
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const p of listSysDir("/proc")) {
    if (p.type !== "dir" || !/^\d+$/.test(p.name)) continue;
    let fds;
    try {
      fds = listSysDir(`/proc/${p.name}/fd`);
    } catch {
      continue; // exited, or a kernel thread
    }
    for (const fd of fds) {
      if (fd.name === ".") continue;
      let target: string;
      try {
        target = readSysLink(`/proc/${p.name}/fd/${fd.name}`);
      } catch {
        continue;
      }
      if (target.startsWith("socket:[") && inodes.has(target.slice(8, -1))) {
        pids.push(Number(p.name));
        break;
      }
    }
  }
  return pids;
}

/** The executable path of `pid` (undefined when gone or unreadable). */
export function exePathOf(pid: number): string | undefined {
  try {
    return readSysLink(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
  } catch {
    return undefined;
  }
}

/** Pids of running processes whose executable path matches one of `globs` (this process excluded). */
export function pidsWithExe(globs: RegExp[]): number[] {
  if (globs.length === 0) return [];
  const pids: number[] = [];
  for (const p of listSysDir("/proc")) {
    if (p.type !== "dir" || !/^\d+$/.test(p.name) || Number(p.name) === Deno.pid) continue;
    const exe = exePathOf(Number(p.name));
    if (exe !== undefined && globs.some((g) => g.test(exe))) pids.push(Number(p.name));
  }
  return pids;
}
