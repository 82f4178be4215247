/**
 * Waiting for ring-buffer data without blocking the JS thread: an
 * edge-triggered epoll set over the ring buffers' fds, waited on with a
 * nonblocking FFI call (it runs on a worker thread; the promise settles on
 * the event loop).
 *
 * Edge-triggered, so a wait ends on the BPF side's (batched) wakeups rather
 * than whenever some data is present: a consumer that has caught up sleeps
 * until a forced wakeup (at most ~1 ms later while records keep coming, see
 * probes/include/spanprobe.bpf.h) instead of spinning on every record. Waits
 * are bounded (≤ 100 ms), so stop stays prompt and no record is stranded
 * longer than that; the call in flight is tracked so nothing is closed or
 * unmapped under it.
 * @module
 */
import { EPOLL, libc } from "./libc.ts";

/** The longest single wait, in ms. */
export const MAX_WAIT_MS = 100;

/** Waits on a fixed set of fds. */
export interface RingWaiter {
  /** Resolve on a wakeup from any ring or after `timeoutMs` (capped at {@linkcode MAX_WAIT_MS}). */
  wait(timeoutMs: number): Promise<void>;
  /** Resolves once no wait is in flight (immediately when none). */
  idle(): Promise<void>;
  /** Wait until idle, then close the epoll fd. Idempotent. */
  close(): Promise<void>;
}

/** A waiter for `fds` (EPOLLIN, edge-triggered). Throws when epoll cannot be set up. */
export function createRingWaiter(fds: number[]): RingWaiter {
  const c = libc();
  const epfd = c.epoll_create1(EPOLL.CLOEXEC);
  if (epfd < 0) throw new Error("epoll_create1 failed");
  // struct epoll_event { uint32_t events; uint64_t data; } __attribute__((packed)): 12 bytes.
  const ev = new Uint8Array(12);
  const view = new DataView(ev.buffer);
  for (const fd of fds) {
    view.setUint32(0, (EPOLL.IN | EPOLL.ET) >>> 0, true);
    view.setUint32(4, fd, true);
    if (c.epoll_ctl(epfd, EPOLL.CTL_ADD, fd, ev) < 0) {
      c.close(epfd);
      throw new Error(`epoll_ctl on ring buffer fd ${fd} failed`);
    }
  }
  const events = new Uint8Array(12 * Math.max(1, fds.length));
  let inFlight: Promise<unknown> | undefined;
  let closed = false;

  const waiter: RingWaiter = {
    wait(timeoutMs) {
      if (closed) return Promise.resolve();
      if (inFlight) return inFlight.then(() => {});
      const ms = Math.max(0, Math.min(MAX_WAIT_MS, Math.ceil(timeoutMs)));
      const p = c.epoll_wait_nb(epfd, events, fds.length, ms);
      inFlight = p;
      const clear = () => {
        inFlight = undefined;
      };
      return p.then(clear, clear);
    },
    async idle() {
      while (inFlight) await inFlight.catch(() => {});
    },
    async close() {
      if (closed) return;
      closed = true;
      await waiter.idle();
      c.close(epfd);
    },
  };
  return waiter;
}
