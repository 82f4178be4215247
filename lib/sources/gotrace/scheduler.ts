/**
 * Which P and goroutine each M (thread) has, as far as the events of that
 * M's own batches say. Enough to attribute user annotations, runtime ranges
 * and goroutine state changes to goroutines; kept across generations.
 *
 * Rules (a subset of Go's ordering in `internal/trace/order.go`):
 * - a P is bound by `ProcStart`, and by `ProcStatus` with status running or
 *   syscall; `ProcStop` and `GoDestroySyscall` unbind it. `GoCreate`,
 *   `GoCreateBlocked`, `GoStart`, `GoSyscallBegin`, `GoSyscallEnd` and
 *   `ProcStop` need a P, as in Go: without one the trace is rejected
 *   ("expected a proc but didn't have one"). Only an M's own events change
 *   its P here, so a P is never missing where Go would see one.
 * - a goroutine is bound by `GoStart`, `GoSwitch(Destroy)`, `GoCreateSyscall`,
 *   and `GoStatus(Stack)` running (or in a syscall on this M); `GoStop`,
 *   `GoBlock`, `GoDestroy(Syscall)` and `GoSyscallEndBlocked` unbind it.
 * - `ProcSteal` changes nothing here (the victim M's own later events say
 *   what it does next); this is more lenient than Go, never stricter.
 * @module
 */

/** No P / no goroutine. */
export const NONE = -1;

/** The execution context of one M. */
export interface MContext {
  /** The bound P, or {@linkcode NONE}. */
  p: number;
  /** The running goroutine, or {@linkcode NONE}. */
  g: number;
}

/** The contexts of every M seen so far. */
export class Scheduler {
  private readonly ms = new Map<bigint, MContext>();

  /** The context of M `m` (created unbound on first use). */
  of(m: bigint): MContext {
    let c = this.ms.get(m);
    if (!c) {
      c = { p: NONE, g: NONE };
      this.ms.set(m, c);
    }
    return c;
  }
}
