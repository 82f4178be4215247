import { strictEqual } from "node:assert/strict";
import { createKeyTable, foldKeyParts, keyPartOf } from "../lib/spans/key_table.ts";

Deno.test("key table: one-part keys set, get, replace, delete and count", () => {
  const t = createKeyTable<string>(1);
  t.set(7, "ignored", "a");
  t.set("7", 0, "b");
  strictEqual(t.get(7, "other"), "a", "the second part is ignored for one-part keys");
  strictEqual(t.get("7", 0), "b", "a string and a number are different keys");
  t.set(7, 0, "c");
  strictEqual(t.size, 2, "replacing is no new key");
  t.delete(7, 0);
  t.delete(7, 0); // twice: no effect
  strictEqual(t.get(7, 0), undefined);
  strictEqual(t.size, 1);
  t.set(7, 0, "d");
  strictEqual(t.get(7, 0), "d", "a removed key can come back");
  strictEqual(t.size, 2);
  t.clear();
  strictEqual(t.size, 0);
  strictEqual(t.get("7", 0), undefined);
});

Deno.test("key table: two-part keys are told apart by both parts", () => {
  const t = createKeyTable<string>(2);
  t.set(1, "a", "1a");
  t.set(1, "b", "1b");
  t.set(2, "a", "2a");
  strictEqual(t.get(1, "a"), "1a");
  strictEqual(t.get(1, "b"), "1b");
  strictEqual(t.get(2, "a"), "2a");
  strictEqual(t.get(2, "b"), undefined);
  strictEqual(t.size, 3);
  t.delete(1, "a");
  t.delete(3, "a"); // absent first part: no effect
  strictEqual(t.size, 2);
  strictEqual(t.get(1, "a"), undefined);
  strictEqual(t.get(1, "b"), "1b");
});

Deno.test("key table: swap returns the replaced value, take the removed one", () => {
  for (const parts of [1, 2]) {
    const t = createKeyTable<string>(parts);
    strictEqual(t.swap(1, "x", "first"), undefined);
    strictEqual(t.swap(1, "x", "second"), "first");
    strictEqual(t.size, 1);
    strictEqual(t.take(1, "x"), "second");
    strictEqual(t.take(1, "x"), undefined);
    strictEqual(t.size, 0);
    strictEqual(t.swap(1, "x", "again"), undefined, "after take the key is free");
    strictEqual(t.size, 1);
  }
});

Deno.test("key table: rekey moves a value to an equal key object", () => {
  for (const parts of [1, 2]) {
    const t = createKeyTable<string>(parts);
    const big = "y".repeat(1000) + "first-part-0123456789" + "second-part-0123456789";
    const a = big.slice(1000, 1021);
    const b = big.slice(1021);
    t.set(a, b, "v");
    if (parts === 2) t.set(a, "neighbour", "n");
    t.rekey(a, b, "first-part-0123456789", "second-part-0123456789");
    strictEqual(t.get(a, b), "v");
    if (parts === 2) strictEqual(t.get(a, "neighbour"), "n", "the other keys of the first part stay");
    strictEqual(t.size, parts);
    strictEqual(t.take("first-part-0123456789", "second-part-0123456789"), "v");
  }
});

Deno.test("key table: heavy churn (tombstones, rebuilds, pruned inner tables) keeps exactly the live keys", () => {
  for (const parts of [1, 2]) {
    const t = createKeyTable<number>(parts);
    const live = new Map<string, number>();
    let seed = 12345;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let i = 0; i < 50_000; i++) {
      const a = rand(300); // first parts come and go: inner tables empty and get pruned
      const b = `r${rand(50)}`;
      const id = parts === 1 ? `${a}` : `${a}/${b}`;
      const op = rand(4);
      if (op === 0) {
        t.delete(a, b);
        live.delete(id);
      } else if (op === 1) {
        strictEqual(t.take(a, b), live.get(id));
        live.delete(id);
      } else if (op === 2) {
        strictEqual(t.swap(a, b, i), live.get(id));
        live.set(id, i);
      } else {
        t.set(a, b, i);
        live.set(id, i);
      }
    }
    strictEqual(t.size, live.size, `size with ${parts} part(s)`);
    for (let a = 0; a < 300; a++) {
      for (let j = 0; j < 50; j++) {
        const b = `r${j}`;
        strictEqual(t.get(a, b), live.get(parts === 1 ? `${a}` : `${a}/${b}`), `${a}/${b}`);
      }
    }
  }
});

Deno.test("key table: key parts — integers match across number and bigint, bytes are tagged hex", () => {
  strictEqual(keyPartOf(42n), 42);
  strictEqual(keyPartOf(42), 42);
  strictEqual(keyPartOf(2n ** 60n), 2n ** 60n, "beyond 2^53 stays exact");
  strictEqual(keyPartOf("42"), "42");
  strictEqual(keyPartOf(true), true);
  strictEqual(keyPartOf(new Uint8Array([0, 255, 16])), "00ff10\u0000b");
  strictEqual(foldKeyParts(["a", 1, 2n ** 60n]), foldKeyParts(["a", 1, 2n ** 60n]), "the same parts fold alike");
  strictEqual(foldKeyParts(["a", 1]) === foldKeyParts(["a", "1"]), false, "string 1 and number 1 differ");
});
