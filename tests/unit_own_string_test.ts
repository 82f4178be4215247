/**
 * ownString: copies that do not keep the batch text they were sliced from alive.
 */
import { ok, strictEqual } from "node:assert/strict";
import { ownString, ownStrings } from "../lib/core/own_string.ts";

Deno.test("ownString: the same text, short strings untouched", () => {
  const big = "x".repeat(100_000) + "req-123456789-abc";
  const slice = big.slice(100_000);
  strictEqual(ownString(slice), slice);
  strictEqual(ownString("short"), "short");
  const values: unknown[] = [1, slice, "tiny", 5n];
  ownStrings(values);
  strictEqual(values[1], slice);
  strictEqual(values[2], "tiny");
  strictEqual(values[3], 5n);
});

Deno.test("ownString: 2,000 ids sliced from 64 KiB texts do not keep the texts alive", async () => {
  // measured in a child with a collectable heap: slices hold every text, copies hold none
  const heapMb = async (own: boolean) => {
    const code = `
      import { ownString } from ${JSON.stringify(new URL("../lib/core/own_string.ts", import.meta.url).href)};
      const keep = [];
      for (let i = 0; i < 2000; i++) {
        const text = "x".repeat(65536) + "req-" + i + "-abcdefghij";
        const id = text.slice(text.length - 20);
        keep.push(${own} ? ownString(id) : id);
      }
      globalThis.gc();
      console.log(Deno.memoryUsage().heapUsed / 1e6, keep.length);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--v8-flags=--expose-gc", code],
    }).output();
    strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
    return Number(new TextDecoder().decode(out.stdout).split(" ")[0]);
  };
  const sliced = await heapMb(false);
  const owned = await heapMb(true);
  ok(sliced > 100, `slices keep the texts: ${sliced} MB (if this fails, V8 no longer makes slices views)`);
  ok(owned < sliced / 10, `copies: ${owned} MB vs slices ${sliced} MB`);
});
