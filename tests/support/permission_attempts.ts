/**
 * Test-only: run under exactly the agent's permission flags (lib/permissions.ts)
 * by tests/permissions_denials_test.ts. Tries what a compromised agent would
 * try, plus what the agent legitimately does, and prints one JSON line per
 * attempt: `{ name, ok, error?, message? }`.
 *
 *   deno run <flags> permission_attempts.ts '<json list of attempts>'
 *
 * An attempt is `[name, kind, arg]` with kind one of read, write, run, fetch,
 * dlopen, env, sys.
 * @module
 */

type Attempt = [name: string, kind: string, arg: string];

async function attempt(kind: string, arg: string): Promise<void> {
  switch (kind) {
    case "read":
      await Deno.readFile(arg);
      return;
    case "write":
      await Deno.writeTextFile(arg, "x\n", { append: true });
      return;
    case "run":
      await new Deno.Command(arg, { args: ["--version"], stdout: "null", stderr: "null" }).output();
      return;
    case "fetch": {
      const res = await fetch(arg, { signal: AbortSignal.timeout(3000) });
      await res.body?.cancel();
      return;
    }
    case "dlopen":
      Deno.dlopen(arg, { getpid: { parameters: [], result: "i32" } }).close();
      return;
    case "env":
      Deno.env.get(arg);
      return;
    case "sys":
      if (arg === "osRelease") Deno.osRelease();
      else if (arg === "networkInterfaces") Deno.networkInterfaces();
      else Deno.hostname();
      return;
  }
  throw new Error(`unknown attempt kind ${kind}`);
}

/** The permission error behind `e` (fetch wraps connect-time denials in a TypeError). */
function rootCause(e: unknown): Error {
  let err = e as Error;
  while (!(err instanceof Deno.errors.NotCapable) && err.cause instanceof Error) err = err.cause;
  return err;
}

if (import.meta.main) {
  const attempts = JSON.parse(Deno.args[0]) as Attempt[];
  for (const [name, kind, arg] of attempts) {
    try {
      await attempt(kind, arg);
      console.log(JSON.stringify({ name, ok: true }));
    } catch (e) {
      const err = rootCause(e);
      console.log(JSON.stringify({ name, ok: false, error: err.constructor.name, message: err.message }));
    }
  }
}
