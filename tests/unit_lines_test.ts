/**
 * lineSplitter: framing of bpftrace's stdout bytes into lines.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { type LineBatch, lineBatchOf, linesOf, lineSplitter, type LineSplitterOptions } from "../lib/streams/lines.ts";

const enc = new TextEncoder();

/** Feeds `chunks` through a splitter; returns the batches and the overlong reports. */
async function split(
  chunks: (string | Uint8Array)[],
  options: LineSplitterOptions = {},
): Promise<{ batches: string[][]; overlong: number[]; raw: LineBatch[] }> {
  const overlong: number[] = [];
  const splitter = lineSplitter({
    ...options,
    onOverlong: (n) => overlong.push(n),
  });
  const input = ReadableStream.from(
    chunks.map((c) => typeof c === "string" ? enc.encode(c) : c),
  );
  const batches: string[][] = [];
  const raw: LineBatch[] = [];
  for await (const b of input.pipeThrough(splitter)) {
    checkBytes(b);
    raw.push(b);
    batches.push(linesOf(b));
  }
  return { batches, overlong, raw };
}

/** A batch's bytes, when present, are its text one byte per character. */
function checkBytes(b: LineBatch): void {
  if (!b.bytes) return;
  strictEqual(b.bytes.length, b.text.length, "one byte per character");
  for (let i = 0; i < b.starts.length; i++) {
    const line = b.text.slice(b.starts[i], b.ends[i]);
    const lineBytes: Uint8Array = b.bytes.subarray(b.starts[i], b.ends[i]);
    deepStrictEqual(Array.from(lineBytes), Array.from(line, (c) => c.charCodeAt(0)), `line ${i}`);
  }
}

/** Splits the UTF-8 bytes of `text` at the given byte offsets. */
function cutBytes(text: string, at: number[]): Uint8Array[] {
  const bytes = enc.encode(text);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const a of [...at, bytes.length]) {
    out.push(bytes.slice(prev, a));
    prev = a;
  }
  return out;
}

const cases: {
  name: string;
  chunks: (string | Uint8Array)[];
  max?: number;
  lines: string[];
  overlong?: number[];
}[] = [
  { name: "one chunk, two lines", chunks: ["a\nbc\n"], lines: ["a", "bc"] },
  {
    name: "line split across three chunks",
    chunks: ['{"ty', 'pe": 1', "}\nnext\n"],
    lines: ['{"type": 1}', "next"],
  },
  { name: "CRLF endings", chunks: ["one\r\ntwo\r\n"], lines: ["one", "two"] },
  {
    name: "CR and LF in different chunks",
    chunks: ["one\r", "\ntwo\r", "\n"],
    lines: ["one", "two"],
  },
  {
    name: "empty lines dropped (bpftrace prints two at exit)",
    chunks: ["a\n\n\nb\n", "\n", "\r\n"],
    lines: ["a", "b"],
  },
  { name: "final line without newline", chunks: ["a\nlast"], lines: ["a", "last"] },
  { name: "final line split, no newline", chunks: ["a\nla", "st"], lines: ["a", "la" + "st"] },
  { name: "only a newline", chunks: ["\n"], lines: [] },
  { name: "nothing at all", chunks: [], lines: [] },
  {
    name: "overlong line in one chunk is dropped, neighbours survive",
    chunks: ["ok1\n" + "x".repeat(25) + "\nok2\n"],
    max: 10,
    lines: ["ok1", "ok2"],
    overlong: [25],
  },
  {
    name: "overlong line spread over chunks is dropped with its full length",
    chunks: ["ok1\nxxxxxx", "xxxxxxxx", "xxxxxxxxxxx", "x\nok2\n"],
    max: 10,
    lines: ["ok1", "ok2"],
    overlong: [6 + 8 + 11 + 1],
  },
  {
    name: "overlong final line without newline is reported at the end",
    chunks: ["ok\n", "y".repeat(12), "y".repeat(3)],
    max: 10,
    lines: ["ok"],
    overlong: [15],
  },
  {
    name: "a line of exactly max characters is kept",
    chunks: ["0123456789\n", "01234", "56789\n"],
    max: 10,
    lines: ["0123456789", "0123456789"],
  },
  {
    name: "a line of exactly max characters with CRLF split before LF is kept",
    chunks: ["0123456789\r", "\nnext\n"],
    max: 10,
    lines: ["0123456789", "next"],
  },
  {
    name: "a line of max + 1 characters is dropped even when its last character arrives alone",
    chunks: ["01234567890", "\nnext\n"],
    max: 10,
    lines: ["next"],
    overlong: [11],
  },
  {
    name: "overlong CRLF line: length without the CR, whole or split",
    chunks: ["z".repeat(12) + "\r\n", "z".repeat(7), "z".repeat(5) + "\r", "\nok\n"],
    max: 10,
    lines: ["ok"],
    overlong: [12, 12],
  },
  {
    name: "two overlong lines in a row, each reported",
    chunks: ["a".repeat(11) + "\n" + "b".repeat(14) + "\nc\n"],
    max: 10,
    lines: ["c"],
    overlong: [11, 14],
  },
];

for (const c of cases) {
  Deno.test(`lineSplitter: ${c.name}`, async () => {
    const { batches, overlong } = await split(c.chunks, { maxLineLength: c.max });
    deepStrictEqual(batches.flat(), c.lines);
    deepStrictEqual(overlong, c.overlong ?? []);
    for (const b of batches) {
      if (b.length === 0) throw new Error("empty batch emitted");
    }
  });
}

Deno.test("lineSplitter: a multi-byte UTF-8 character split at every byte boundary", async () => {
  // "é" is 2 bytes, "€" 3 bytes, "𝄞" 4 bytes (a surrogate pair in JS)
  const text = 'a\n["é€𝄞"]\nz\n';
  const total = enc.encode(text).length;
  for (let cut = 1; cut < total; cut++) {
    const { batches } = await split(cutBytes(text, [cut]));
    deepStrictEqual(batches.flat(), ["a", '["é€𝄞"]', "z"], `cut at byte ${cut}`);
  }
  // every byte its own chunk
  const bytes = enc.encode(text);
  const single = Array.from(bytes, (b) => new Uint8Array([b]));
  deepStrictEqual((await split(single)).batches.flat(), ["a", '["é€𝄞"]', "z"]);
});

Deno.test("lineSplitter: one output batch per input chunk that completes lines", async () => {
  const { batches } = await split(["a\nb\n", "c", "\nd\ne\n", "f"]);
  deepStrictEqual(batches, [["a", "b"], ["c", "d", "e"], ["f"]]);
});

Deno.test("lineSplitter: overlong limit counts characters, not bytes", async () => {
  // 10 two-byte characters = 20 bytes but 10 characters: fits a limit of 10
  const { batches, overlong } = await split(["éééééééééé\n", "ééééééééééé\n"], {
    maxLineLength: 10,
  });
  deepStrictEqual(batches.flat(), ["éééééééééé"]);
  deepStrictEqual(overlong, [11]);
});

Deno.test("lineSplitter: default limit keeps a 100 kB line", async () => {
  const long = "q".repeat(100_000);
  const { batches, overlong } = await split([long.slice(0, 40_000), long.slice(40_000) + "\n"]);
  deepStrictEqual(batches.flat(), [long]);
  deepStrictEqual(overlong, []);
});

Deno.test("lineSplitter: ASCII batches carry their bytes (lines split across chunks too)", async () => {
  const { raw } = await split(['{"a": 1}\n{"b"', ": 2}\nc\n"]);
  deepStrictEqual(raw.map((b) => b.bytes !== undefined), [true, true]);
});

Deno.test("lineSplitter: no bytes where characters are not one byte each; ASCII chunks after them get bytes again", async () => {
  const { raw, batches } = await split(["a\n", "é\nb", "c\n", "d\n"]);
  deepStrictEqual(batches, [["a"], ["é"], ["bc"], ["d"]]);
  deepStrictEqual(raw.map((b) => b.bytes !== undefined), [true, false, true, true]);
});

Deno.test("lineSplitter: a 4-byte character split over tiny chunks never yields misaligned bytes", async () => {
  // the decoder holds F0 9D over two chunks; the chunk that completes it has as many characters as bytes
  const bytes = enc.encode("𝄞A\nok\n");
  const chunks = [bytes.slice(0, 1), bytes.slice(1, 2), bytes.slice(2)];
  const { batches, raw } = await split(chunks);
  deepStrictEqual(batches.flat(), ["𝄞A", "ok"]);
  ok(raw.every((b) => !b.bytes || b.bytes.length === b.text.length));
  strictEqual(raw[0].bytes, undefined);
});

Deno.test("lineBatchOf: lines as one batch, bytes only when ASCII", () => {
  const b = lineBatchOf(["x", "yz"]);
  deepStrictEqual(linesOf(b), ["x", "yz"]);
  ok(b.bytes);
  strictEqual(lineBatchOf(["é"]).bytes, undefined);
});
