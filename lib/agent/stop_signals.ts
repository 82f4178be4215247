/**
 * SIGINT and SIGTERM, caught from the first moment of a run: a signal that
 * arrives while the config is read, the spool is replayed or probes attach
 * is kept and handed to the agent's lifecycle (lib/agent/run_agent.ts) once
 * it listens, so that every signal ends in an orderly stop with a summary
 * (docs/reliability.md), never in the default action's exit 130/143.
 * @module
 */

/** The stop signals of one run. */
export interface StopSignals {
  /** Calls `handler` for every signal, first for those that arrived before (in order). One handler. */
  listen(handler: (signal: Deno.Signal) => void): void;
  /** Removes the handlers: the default action applies again. */
  dispose(): void;
}

const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/** Installs SIGINT and SIGTERM handlers now; signals are queued until {@linkcode StopSignals.listen}. */
export function catchStopSignals(): StopSignals {
  const pending: Deno.Signal[] = [];
  let handler: ((signal: Deno.Signal) => void) | undefined;
  const installed = STOP_SIGNALS.map((sig) => {
    const h = () => handler ? handler(sig) : void pending.push(sig);
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  let disposed = false;
  return {
    listen(h) {
      handler = h;
      for (const sig of pending.splice(0)) h(sig);
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const [sig, h] of installed) Deno.removeSignalListener(sig, h);
    },
  };
}
