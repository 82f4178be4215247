/**
 * Routes libbpf's own log (`libbpf_set_print`) into our logger, and keeps
 * the lines printed during one call so errors can quote them.
 *
 * libbpf calls the print function synchronously from inside the API call
 * that logs, on the JS thread, so a plain (non thread-safe) callback is used;
 * it is installed once per process and never closed.
 * @module
 */
import type { Logger } from "../telemetry/log.ts";
import { libc } from "./libc.ts";
import type { Libbpf } from "./libbpf.ts";

const LEVEL = ["warn", "info", "debug"] as const;
const BUF_SIZE = 1 << 20;
const decoder = new TextDecoder();

/** One line libbpf printed. */
export interface LibbpfLine {
  level: "warn" | "info" | "debug";
  text: string;
}

let buf: Uint8Array<ArrayBuffer> | undefined;
const PRINT_FN = {
  parameters: ["i32", "pointer", "pointer"],
  result: "i32",
} as const;
let callback: Deno.UnsafeCallback<typeof PRINT_FN> | undefined;
let current: { logger: Logger; lines: LibbpfLine[] } | undefined;
let fallback: Logger | undefined;

/** Lines that only mislead on modern kernels (memlock is not charged since 5.11). */
function misleading(text: string): boolean {
  return /RLIMIT_MEMLOCK|ulimit -l/.test(text);
}

function onPrint(
  level: number,
  fmt: Deno.PointerValue,
  ap: Deno.PointerValue,
): number {
  buf ??= new Uint8Array(BUF_SIZE);
  const n = libc().vsnprintf(buf, BigInt(BUF_SIZE), fmt, ap);
  if (n <= 0) return 0;
  const text = decoder.decode(buf.subarray(0, Math.min(n, BUF_SIZE - 1)));
  const lvl = LEVEL[level] ?? "debug";
  const target = current ??
    (fallback ? { logger: fallback, lines: [] } : undefined);
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd().replace(/^libbpf: /, "");
    if (!line || misleading(line)) continue;
    target?.lines.push({ level: lvl, text: line });
    if (!target) continue;
    // libbpf's "info" is chatty (CO-RE relocations, every map created): debug for us.
    if (lvl === "warn") target.logger.warn(`libbpf: ${line}`);
    else target.logger.debug(`libbpf: ${line}`);
  }
  return n;
}

/** Install the print hook once (idempotent). */
export function installLibbpfLog(lib: Libbpf, defaultLogger?: Logger): void {
  if (defaultLogger) fallback ??= defaultLogger;
  if (callback) return;
  callback = new Deno.UnsafeCallback(PRINT_FN, onPrint);
  lib.sym.libbpf_set_print(callback.pointer);
}

/**
 * Run a synchronous libbpf call with its log routed to `logger`; returns the
 * call's result and the lines libbpf printed meanwhile.
 */
export function withLibbpfLog<T>(
  logger: Logger,
  fn: () => T,
): { result: T; lines: LibbpfLine[] } {
  const saved = current;
  const scope = { logger, lines: [] as LibbpfLine[] };
  current = scope;
  try {
    return { result: fn(), lines: scope.lines };
  } finally {
    current = saved;
  }
}
