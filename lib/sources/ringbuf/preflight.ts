/**
 * What a ring-buffer probe needs from where it runs, checked before anything
 * else so that a missing piece is one line naming it (exit 2), never a stack
 * trace: FFI permission, libbpf 1.x, and (to load CO-RE objects) kernel BTF.
 * @module
 */
import { openLibbpf } from "../../ffi/libbpf.ts";
import { libc } from "../../ffi/libc.ts";
import { sysPathExists } from "../../ffi/sysfs.ts";
import { UserError } from "../../core/errors.ts";

/** Options of {@linkcode requireRingbufSupport}. */
export interface PreflightOptions {
  /** Absolute path of libbpf.so.1 (searched in the standard folders otherwise). */
  libbpfPath?: string;
  /** Check kernel BTF too (loading needs it; `check` only opens objects). */
  btf?: boolean;
  /** The kernel's BTF (default /sys/kernel/btf/vmlinux). */
  btfPath?: string;
}

/** Throws a one-line UserError (exit 2) naming what is missing. */
export function requireRingbufSupport(o: PreflightOptions = {}): void {
  try {
    libc();
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new UserError(
        "ring-buffer probes need FFI permission (--allow-ffi) to load libbpf and libc, and this run has none " +
          "(use deno task start, or a binary built by deno task compile without --profile bpftrace)",
        2,
      );
    }
    throw new UserError(`ring-buffer probes need libc.so.6 (glibc): ${(e as Error).message.split("\n")[0]}`, 2);
  }
  try {
    openLibbpf(o.libbpfPath);
  } catch (e) {
    const where = o.libbpfPath ? `${o.libbpfPath} (SPANPROBE_LIBBPF)` : "libbpf.so.1 in the standard library folders";
    const why = (e as Error).message.split("\n")[0].replace(/:$/, "").replace(/; tried$/, "");
    throw new UserError(
      `ring-buffer probes need libbpf 1.x: not found at ${where} (${why}); install libbpf1 or set SPANPROBE_LIBBPF`,
      2,
    );
  }
  const btf = o.btfPath ?? "/sys/kernel/btf/vmlinux";
  if (o.btf && !sysPathExists(btf)) {
    throw new UserError(
      `ring-buffer probes need kernel BTF (${btf} is missing): CO-RE objects cannot be loaded on this kernel ` +
        "(use a kernel built with CONFIG_DEBUG_INFO_BTF, or bpftrace probes)",
      2,
    );
  }
}
