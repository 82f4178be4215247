/**
 * Turns libbpf failures into messages a user can act on: what failed, on
 * which object / program / map / attach point, why, and what to do.
 * @module
 */
import { UserError } from "../core/errors.ts";
import { errnoMessage, errnoName } from "./errno_names.ts";
import type { LibbpfLine } from "./libbpf_log.ts";
import { isRoot } from "./libc.ts";

/** The hint for a missing privilege (libbpf wrongly blames RLIMIT_MEMLOCK). */
export const PRIVILEGE_HINT =
  "loading BPF programs needs CAP_BPF and CAP_PERFMON (or root); run spanprobe as root or grant those capabilities";

const LIBBPF_ERRNO: Record<number, string> = {
  4000: "something wrong in libelf",
  4001: "not a valid BPF ELF object",
  4002: "kernel version section missing",
  4003: "endianness mismatch",
  4004: "internal libbpf error",
  4005: "relocation failed",
  4006: "load failed",
  4007: "rejected by the kernel verifier",
  4008: "program too big",
  4009: "incorrect kernel version",
  4010: "kernel does not support this program type",
  4011: "wrong pid in netlink message",
  4012: "invalid netlink sequence",
  4013: "netlink parse error",
};

/** `ENOENT (No such file or directory)` for a positive errno. */
export function describeErrno(err: number): string {
  const e = Math.abs(err);
  if (LIBBPF_ERRNO[e]) return LIBBPF_ERRNO[e];
  if (e === 95) return "EOPNOTSUPP (Operation not supported)";
  const name = errnoName(e);
  return name ? `${name} (${errnoMessage(e)})` : `error ${e}`;
}

/** The last `n` libbpf lines worth quoting (warnings first, else info; never debug chatter). */
function quote(lines: LibbpfLine[], n = 12): string {
  const warn = lines.filter((l) => l.level === "warn");
  const info = lines.filter((l) => l.level === "info");
  const pick = (warn.length ? warn : info).slice(-n).map((l) => `  libbpf: ${l.text}`);
  return pick.length ? `\n${pick.join("\n")}` : "";
}

function privilegeError(what: string): UserError {
  const who = isRoot() ? "" : " (not running as root)";
  return new UserError(
    `${what}: permission denied${who}: ${PRIVILEGE_HINT}`,
    1,
  );
}

/** Failure of `bpf_object__open_file`. */
export function openError(
  path: string,
  err: number,
  lines: LibbpfLine[],
): UserError {
  const e = Math.abs(err);
  if (e === 2) return new UserError(`BPF object ${path} not found`, 2);
  if (e === 13 || e === 1) {
    return new UserError(
      `cannot read BPF object ${path}: ${describeErrno(e)}`,
      2,
    );
  }
  return new UserError(
    `${path} is not a usable BPF object (${describeErrno(e)}); build it with ` +
      `clang -O2 -g -target bpf${quote(lines)}`,
    2,
  );
}

/** Failure of `bpf_object__load`. */
export function loadError(
  path: string,
  err: number,
  lines: LibbpfLine[],
): UserError {
  const e = Math.abs(err);
  if (e === 1) return privilegeError(`loading ${path}`);
  const prog = lines.map((l) => /prog '([^']+)'/.exec(l.text)?.[1]).find(
    Boolean,
  );
  const which = prog ? ` program "${prog}" of` : "";
  if (e === 13 || e === 22 || e === 4007) {
    return new UserError(
      `loading${which} ${path} failed: ${describeErrno(e)}; the kernel verifier or ` +
        `CO-RE relocation rejected it${quote(lines)}`,
      1,
    );
  }
  if (e === 3 || e === 2) {
    return new UserError(
      `loading${which} ${path} failed: ${describeErrno(e)}; a kernel type, field or ` +
        `function it needs does not exist on this kernel${quote(lines)}`,
      1,
    );
  }
  return new UserError(
    `loading${which} ${path} failed: ${describeErrno(e)}${quote(lines)}`,
    1,
  );
}

/** Failure to attach program `prog` (section `section`). */
export function attachError(
  path: string,
  prog: string,
  section: string,
  err: number,
  lines: LibbpfLine[],
  target?: string,
  binaryMissing?: boolean,
): UserError {
  const e = Math.abs(err);
  const what = `attaching program "${prog}" (SEC("${section}")) of ${path}` +
    (target ? ` to ${target}` : "");
  if (e === 1) return privilegeError(what);
  if ((e === 2 || e === 22) && binaryMissing === false && target?.startsWith("usdt ")) {
    return new UserError(
      `${what} failed: the binary has no such USDT probe (${describeErrno(e)}); list its probes with ` +
        `\`readelf -n <binary>\`${quote(lines, 4)}`,
      1,
    );
  }
  if (binaryMissing) {
    return new UserError(`${what} failed: binary not found (${describeErrno(e)})`, 1);
  }
  if (e === 2 || e === 19) {
    return new UserError(
      `${what} failed: attach point ${target ?? `"${section}"`} not found (${describeErrno(e)}); ` +
        `check that the tracepoint, binary or probe exists${quote(lines, 4)}`,
      1,
    );
  }
  if (e === 95 || e === 524) {
    return new UserError(
      `${what} failed: this program has no attach target of its own (${describeErrno(e)}); ` +
        `name one in tracing.attach of the config (usdt or uprobe), or note that kprobes ` +
        `and fentry are unavailable on this kernel${quote(lines, 4)}`,
      2,
    );
  }
  if (e === 13) {
    return new UserError(
      `${what} failed: ${describeErrno(e)}; for tracepoints this means the program reads ` +
        `past the tracepoint's record${quote(lines, 4)}`,
      1,
    );
  }
  return new UserError(
    `${what} failed: ${describeErrno(e)}${quote(lines, 4)}`,
    1,
  );
}

/** A map named in the config that the object lacks. */
export function missingMapError(
  path: string,
  name: string,
  available: string[],
  kind = "map",
): UserError {
  return new UserError(
    `${kind} "${name}" not found in BPF object ${path} (it has: ${available.join(", ") || "none"})`,
    2,
  );
}
