import assert, { strictEqual } from "node:assert/strict";
import { createWakeup } from "../lib/export/wakeup.ts";

const settled = async (p: Promise<void>) => {
  let done = false;
  p.then(() => (done = true));
  await new Promise((r) => setTimeout(r, 0));
  return done;
};

Deno.test("wakeup: notify resolves every current waiter, not later ones", async () => {
  const w = createWakeup();
  const a = w.wait();
  const b = w.wait(10_000);
  strictEqual(await settled(a), false);
  w.notify();
  assert(await settled(a) && await settled(b));
  const c = w.wait(20);
  strictEqual(await settled(c), false, "a notify before the wait does not count");
  await c; // ends at its time limit
});

Deno.test("wakeup: the time limit and an abort signal end a wait; nothing left behind", async () => {
  const w = createWakeup();
  const t0 = performance.now();
  await w.wait(30);
  assert(performance.now() - t0 >= 25, "waited for the limit");
  const ac = new AbortController();
  const p = w.wait(10_000, ac.signal);
  ac.abort();
  assert(await settled(p), "abort ended the wait (its timer cleared, or the test would leak it)");
  ac.abort();
  await w.wait(0, ac.signal); // already aborted: resolves at once
});
