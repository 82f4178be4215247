/**
 * Name templates: placeholders, literal braces, value rendering, errors.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { compileTemplate, escapeBytes, type TemplateValue, valueText } from "../lib/config/template.ts";

const KNOWN = new Set(["path", "method", "status", "ok", "raw", "big"]);
const VALUES: Record<string, TemplateValue> = {
  path: "/api/items",
  method: "GET",
  status: 503,
  ok: false,
  raw: new Uint8Array([0x2f, 0xe9, 0x5c, 0x0a, 0x41]), // "/", Latin-1 é, "\", LF, "A"
  big: 1795313354907507123n,
};

const renders: { source: string; want: string; fields: string[] }[] = [
  { source: "{method} {path}", want: "GET /api/items", fields: ["method", "path"] },
  { source: "request", want: "request", fields: [] },
  { source: "", want: "", fields: [] },
  { source: "{{literal}}", want: "{literal}", fields: [] },
  { source: "{{{path}}}", want: "{/api/items}", fields: ["path"] },
  { source: "a }} b {{ c", want: "a } b { c", fields: [] },
  { source: "{{}}", want: "{}", fields: [] },
  { source: "{ path }!", want: "/api/items!", fields: ["path"] },
  { source: "{status}/{ok}", want: "503/false", fields: ["status", "ok"] },
  { source: "t={big}", want: "t=1795313354907507123", fields: ["big"] },
  { source: "file {raw}", want: "file /\\xe9\\\\\\x0aA", fields: ["raw"] },
  { source: "{path}{path}", want: "/api/items/api/items", fields: ["path", "path"] },
];

for (const c of renders) {
  Deno.test(`compileTemplate: ${JSON.stringify(c.source)}`, () => {
    const t = compileTemplate(c.source, KNOWN);
    strictEqual(t.source, c.source);
    deepStrictEqual([...t.fields], c.fields);
    const asked: string[] = [];
    strictEqual(
      t.render((f) => {
        asked.push(f);
        return VALUES[f];
      }),
      c.want,
    );
    deepStrictEqual(asked, c.fields, "render reads exactly the template's fields");
  });
}

Deno.test("compileTemplate: a missing value renders as empty text", () => {
  strictEqual(compileTemplate("[{path}]", KNOWN).render(() => undefined), "[]");
});

Deno.test("compileTemplate: the same template renders different values", () => {
  const t = compileTemplate("{method} {path}", KNOWN);
  strictEqual(t.render((f) => f === "method" ? "PUT" : "/a"), "PUT /a");
  strictEqual(t.render((f) => f === "method" ? "DELETE" : new Uint8Array([0x62, 0xff])), "DELETE b\\xff");
});

const errors: [string, RegExp][] = [
  ["GET {url}", /"\{url\}" names no field \(fields: path, method, status, ok, raw, big\)/],
  ["GET {path", /unclosed "\{"/],
  ["GET path}", /unmatched "\}"/],
  ["{path}}", /unmatched "\}"/],
  ["{}", /"\{\}" names no field/],
  ["{ }", /"\{\}" names no field/],
];

for (const [source, says] of errors) {
  Deno.test(`compileTemplate: ${JSON.stringify(source)} is an error`, () => {
    throws(() => compileTemplate(source, KNOWN), says);
  });
}

Deno.test("escapeBytes: printable ASCII as is, backslash doubled, the rest \\xNN", () => {
  const cases: [number[], string][] = [
    [[], ""],
    [[0x61, 0x20, 0x7e], "a ~"],
    [[0x5c], "\\\\"],
    [[0x00, 0x09, 0x1f, 0x7f, 0x80, 0xff], "\\x00\\x09\\x1f\\x7f\\x80\\xff"],
    [[0xc3, 0xa9], "\\xc3\\xa9"], // valid UTF-8 is still shown as bytes here
  ];
  for (const [bytes, want] of cases) strictEqual(escapeBytes(new Uint8Array(bytes)), want, want);
});

Deno.test("escapeBytes: lossless (distinct byte strings give distinct text)", () => {
  // "\x41" typed as text vs the byte 0x41: the backslash is escaped, so they differ
  const typed = escapeBytes(new TextEncoder().encode("\\x41"));
  const byte = escapeBytes(new Uint8Array([0x41]));
  strictEqual(typed, "\\\\x41");
  strictEqual(byte, "A");
  const seen = new Set<string>();
  for (let a = 0; a < 256; a++) seen.add(escapeBytes(new Uint8Array([a])));
  strictEqual(seen.size, 256);
});

Deno.test("valueText: every value type", () => {
  const cases: [TemplateValue, string][] = [
    ["x", "x"],
    [42, "42"],
    [-1.5, "-1.5"],
    [18446744073709551615n, "18446744073709551615"],
    [true, "true"],
    [undefined, ""],
    [new Uint8Array([0x68, 0x69, 0x0a]), "hi\\x0a"],
  ];
  for (const [v, want] of cases) strictEqual(valueText(v), want, want);
});
