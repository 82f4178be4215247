/**
 * A wake-up call many can wait for, with a time limit: the exporters use one
 * for "an export finished" and one for "everything is delivered".
 * @module
 */

/** Waiters resolve at the next {@linkcode Wakeup.notify}, or at their time limit. */
export interface Wakeup {
  /** Resolve every current waiter. */
  notify(): void;
  /**
   * Until the next `notify`, at most `timeoutMs` (no limit when omitted); an
   * aborted `signal` also ends the wait.
   */
  wait(timeoutMs?: number, signal?: AbortSignal): Promise<void>;
}

/** A new wake-up with no waiters. */
export function createWakeup(): Wakeup {
  const waiters = new Set<() => void>();
  return {
    notify() {
      for (const w of [...waiters]) w();
    },
    wait(timeoutMs, signal) {
      const { promise, resolve } = Promise.withResolvers<void>();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        waiters.delete(done);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      if (signal?.aborted) {
        resolve();
        return promise;
      }
      waiters.add(done);
      if (timeoutMs !== undefined) timer = setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener("abort", done);
      return promise;
    },
  };
}
