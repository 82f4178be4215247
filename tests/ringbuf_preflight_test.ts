/**
 * A ring-buffer probe where something it needs is missing: the agent says
 * what, in one line, and exits 2 — no stack trace. FFI not granted (the
 * compiled binary's old failure: an uncaught NotCapable), libbpf absent,
 * kernel BTF absent.
 */
import assert, { match, strictEqual, throws } from "node:assert/strict";
import { permissionFlags } from "../lib/permissions.ts";
import { UserError } from "../lib/core/errors.ts";
import { requireRingbufSupport } from "../lib/sources/ringbuf/preflight.ts";
import { permissionsForRun } from "../scripts/launch.ts";
import { ROOT, runSpanprobe } from "./support/ebpf.ts";

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  strictEqual(lines.length, 1, `one line:\n${stderr}`);
  assert(!/\bat \S+:\d+:\d+/.test(stderr), "no stack trace");
  return lines[0];
}

Deno.test("run --probe exec-trace without FFI permission: one line naming it, exit 2", async () => {
  const args = ["run", "--probe", "exec-trace", "--duration", "1"];
  const flags = permissionFlags(permissionsForRun(args.slice(1), (k) => Deno.env.get(k))).filter((f) =>
    f !== "--allow-ffi"
  );
  const r = await runSpanprobe(args, { permissions: flags });
  strictEqual(r.code, 2, r.stderr);
  match(oneLine(r.stderr), /^spanprobe: ring-buffer probes need FFI permission \(--allow-ffi\)/);
});

Deno.test("run --probe exec-trace without libbpf: one line naming it, exit 2", async () => {
  const env = { SPANPROBE_LIBBPF: `${ROOT}.cache/no-such/libbpf.so.1` };
  const r = await runSpanprobe(["run", "--probe", "exec-trace", "--duration", "1"], { env });
  strictEqual(r.code, 2, r.stderr);
  match(oneLine(r.stderr), /^spanprobe: ring-buffer probes need libbpf 1\.x: not found at .*no-such\/libbpf\.so\.1/);
});

Deno.test("check --probe exec-trace without FFI permission: one line, exit 2", async () => {
  const r = await runSpanprobe(["check", "--probe", "exec-trace"], {
    permissions: ["--no-prompt", `--allow-read=${ROOT}probes`, "--allow-env"],
  });
  strictEqual(r.code, 2, r.stderr);
  match(oneLine(r.stderr), /need FFI permission/);
});

Deno.test("without kernel BTF the preflight names the missing file", () => {
  throws(() => requireRingbufSupport({ btf: true, btfPath: "/sys/kernel/btf/no-such-vmlinux" }), (e: unknown) => {
    assert(e instanceof UserError && e.exitCode === 2);
    match(e.message, /need kernel BTF \(\/sys\/kernel\/btf\/no-such-vmlinux is missing\)/);
    assert(!e.message.includes("\n"));
    return true;
  });
  requireRingbufSupport({ btf: true }); // this machine has all three
});
