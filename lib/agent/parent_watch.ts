/**
 * Ending with the launcher: `deno task start` (scripts/launch.ts) gives the
 * agent a pipe as stdin and never writes to it. When the launcher dies —
 * even by SIGKILL, which it cannot forward — the kernel closes the pipe's
 * write end, the agent reads end-of-file and shuts down as on SIGTERM (its
 * bpftrace is stopped, spans are flushed within the deadline). Opt-in by
 * {@linkcode WATCH_STDIN_ENV}, so a plain `spanprobe run` under a shell or a
 * supervisor never ends because its stdin is closed or /dev/null.
 * @module
 */

/** Set to `1` by the launcher: stdin is its pipe; end-of-file means it is gone. */
export const WATCH_STDIN_ENV = "SPANPROBE_WATCH_STDIN";

/** An AbortSignal that fires when `stdin` ends (or fails): the launcher is gone. */
export function watchParentPipe(stdin: ReadableStream<Uint8Array> = Deno.stdin.readable): AbortSignal {
  const ac = new AbortController();
  void (async () => {
    try {
      // nothing is ever written; anything that is, is ignored
      for await (const _ of stdin) { /* drain */ }
    } catch { /* a read error means the same: no launcher */ }
    ac.abort(new Error("the launcher is gone (stdin closed)"));
  })();
  return ac.signal;
}
