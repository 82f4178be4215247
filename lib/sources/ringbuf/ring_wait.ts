/**
 * Waiting for ring-buffer data without blocking the JS thread: `poll(2)` on
 * the ring buffers' fds as a nonblocking FFI call (it runs on a worker
 * thread; the promise settles on the event loop). Waits are bounded
 * (≤ 100 ms) so stop stays prompt, and the call in flight is tracked so
 * nothing is closed or unmapped under it.
 * @module
 */
import { libc } from "../../ffi/libc.ts";

/** The longest single wait, in ms. */
export const MAX_WAIT_MS = 100;

/** Waits on a fixed set of fds. */
export interface RingWaiter {
  /** Resolve when any fd is readable or after `timeoutMs` (capped at {@linkcode MAX_WAIT_MS}). */
  wait(timeoutMs: number): Promise<void>;
  /** Resolves once no wait is in flight (immediately when none). */
  idle(): Promise<void>;
}

/** A waiter for `fds` (POLLIN). */
export function createRingWaiter(fds: number[]): RingWaiter {
  // struct pollfd { int fd; short events; short revents; } — 8 bytes each.
  const pollfds = new Uint8Array(8 * fds.length);
  const view = new DataView(pollfds.buffer);
  fds.forEach((fd, i) => {
    view.setInt32(8 * i, fd, true);
    view.setInt16(8 * i + 4, 0x1, /* POLLIN */ true);
  });
  let inFlight: Promise<unknown> | undefined;
  const nfds = BigInt(fds.length);

  return {
    wait(timeoutMs) {
      if (inFlight) return inFlight.then(() => {});
      const ms = Math.max(0, Math.min(MAX_WAIT_MS, Math.ceil(timeoutMs)));
      const p = libc().poll_nb(pollfds, nfds, ms);
      inFlight = p;
      return p.then(
        () => {
          inFlight = undefined;
        },
        () => {
          inFlight = undefined;
        },
      );
    },
    async idle() {
      while (inFlight) await inFlight.catch(() => {});
    },
  };
}
