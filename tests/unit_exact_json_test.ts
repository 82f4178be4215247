/**
 * exact_json: exact numbers, bpftrace string repair, and the fast tuple scanner.
 */
import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { decodeJsonString, exactNumber, parseExact, scanFlatTuple } from "../lib/streams/exact_json.ts";

Deno.test("exactNumber: numbers come back exact, with the narrowest exact type", () => {
  const cases: [string, number | bigint | string][] = [
    ["0", 0],
    ["7", 7],
    ["-5", -5],
    ["0.5", 0.5],
    ["-12.25", -12.25],
    ["1e3", 1000],
    ["2.5E-3", 0.0025],
    ["123456789012345", 123456789012345], // 15 chars
    ["-12345678901234", -12345678901234],
    ["9007199254740991", 9007199254740991], // 2^53 - 1: the largest safe integer
    ["-9007199254740991", -9007199254740991],
    ["9007199254740992", 9007199254740992n], // 2^53: not safe any more
    ["9007199254740993", 9007199254740993n], // would round to ...992 as a number
    ["1795313354907507123", 1795313354907507123n], // wall-clock ns
    ["-1795313354907507123", -1795313354907507123n],
    ["18446744073709551615", 18446744073709551615n], // u64 max
    ["-9223372036854775808", -9223372036854775808n], // i64 min
    ["1795313354.907507", "1795313354.907507"], // strftime("%s.%f"): text kept
    ["1795313354.907500", "1795313354.907500"], // trailing zeros kept too
    ["-1795313354.9075071", "-1795313354.9075071"],
  ];
  for (const [text, want] of cases) {
    const got = exactNumber(text);
    strictEqual(typeof got, typeof want, `type of ${text}`);
    deepStrictEqual(got, want, text);
  }
});

Deno.test("exactNumber: a bigint result is the exact integer (not a rounded double)", () => {
  const big = exactNumber("1795313354907507123");
  strictEqual(typeof big, "bigint");
  // the nearest double is 1795313354907507200: make sure that is not what we got
  strictEqual((big as bigint) - 1795313354907507000n, 123n);
  strictEqual(String(big), "1795313354907507123");
});

Deno.test("decodeJsonString: standard JSON escapes", () => {
  const cases: [string, string][] = [
    ["plain text", "plain text"],
    ["", ""],
    ['say \\"hi\\"', 'say "hi"'],
    ["back\\\\slash", "back\\slash"],
    ["tab\\there", "tab\there"],
    ["line\\nbreak\\r", "line\nbreak\r"],
    ["\\/\\b\\f", "/\b\f"],
    ["caf\\u00e9", "café"],
    ["\\ud834\\udd1e clef", "𝄞 clef"],
    ["raw é passes", "raw é passes"],
  ];
  for (const [raw, want] of cases) strictEqual(decodeJsonString(raw), want, raw);
});

Deno.test("decodeJsonString: bpftrace's sign-extended bytes become UTF-8 text", () => {
  const cases: [string, string][] = [
    ["\\uffffffc3\\uffffffa9", "é"],
    ["caf\\uffffffc3\\uffffffa9", "café"],
    ["\\uffffffe2\\uffffff82\\uffffffac 5", "€ 5"],
    ["\\uffffffF0\\uffffff9F\\uffffff98\\uffffff80", "😀"], // upper-case hex digits
    ['\\uffffffc3\\uffffffa9\\t\\"q\\"', 'é\t"q"'], // mixed with other escapes
  ];
  for (const [raw, want] of cases) strictEqual(decodeJsonString(raw), want, raw);
});

Deno.test("decodeJsonString: invalid UTF-8 stays bytes, every byte exact", () => {
  const cases: [string, number[]][] = [
    ["\\uffffffe9", [0xe9]], // Latin-1 é
    ["ab\\uffffffff", [0x61, 0x62, 0xff]],
    ["x\\uffffffe9\\n", [0x78, 0xe9, 0x0a]],
    ["\\uffffffc3", [0xc3]], // truncated 2-byte sequence
    ["\\uffffffc3\\uffffff28", [0xc3, 0x28]], // bad continuation byte
    ["\\uffffff80\\uffffff81\\\\", [0x80, 0x81, 0x5c]],
  ];
  for (const [raw, bytes] of cases) {
    const got = decodeJsonString(raw);
    if (!(got instanceof Uint8Array)) throw new Error(`${raw}: expected bytes, got ${JSON.stringify(got)}`);
    deepStrictEqual([...got], bytes, raw);
  }
});

Deno.test("decodeJsonString: an escaped backslash followed by 'uffffff' text is not a byte escape", () => {
  // The string's text is: \uffffffc3 (a literal backslash, then letters)
  strictEqual(decodeJsonString("\\\\uffffffc3"), "\\uffffffc3");
  strictEqual(decodeJsonString("a\\\\\\\\uffffffc3b"), "a\\\\uffffffc3b");
  // an odd number of backslashes: the last one starts a real escape
  strictEqual(decodeJsonString("\\\\\\uffffffc3\\uffffffa9"), "\\é");
});

Deno.test("decodeJsonString: bad escapes throw SyntaxError", () => {
  for (const raw of ["\\q", "\\u12", "\\uzzzz", "\\"]) {
    throws(() => decodeJsonString(raw), SyntaxError, raw);
  }
});

Deno.test("parseExact: big integers, long decimals and repaired strings anywhere in the tree", () => {
  const v = parseExact(
    '{"a": [1795313354907507123, -3, 1795313354.907507, "caf\\uffffffc3\\uffffffa9"], ' +
      '"b": {"c": "\\uffffffe9", "d": 9007199254740993}, "e": null, "f": true}',
  );
  deepStrictEqual(v, {
    a: [1795313354907507123n, -3, "1795313354.907507", "café"],
    b: { c: new Uint8Array([0xe9]), d: 9007199254740993n },
    e: null,
    f: true,
  });
});

Deno.test("parseExact: escaped backslash before 'uffffff' text is kept as text", () => {
  deepStrictEqual(parseExact('["\\\\uffffffc3", "\\uffffffc3\\uffffffa9"]'), ["\\uffffffc3", "é"]);
});

Deno.test("parseExact: malformed JSON throws SyntaxError", () => {
  for (const text of ['{"a": ', "[1,]", "nope", '{"a": 01}', "", '"\\uffffffc3']) {
    throws(() => parseExact(text), SyntaxError, text);
  }
});

Deno.test("scanFlatTuple: flat tuples are scanned, other shapes deferred", () => {
  const P = '{"type": "value", "data": [';
  const cases: [string, unknown][] = [
    [P + "]}", []],
    [P + ' "ev", 1, -2, true, false, null ]}', ["ev", 1, -2, true, false, null]],
    [P + '"ev",1795313354907507123,1795313354.907507]}', ["ev", 1795313354907507123n, "1795313354.907507"]],
    [P + '"a\\"b\\\\c\\td"]}', ['a"b\\c\td']],
    [P + '"\\uffffffc3\\uffffffa9", "\\uffffffe9"]}', ["é", new Uint8Array([0xe9])]],
    [P + '"ev", [1, 2]]}', undefined], // nested: general path
    [P + '"ev", {"a": 1}]}', undefined],
    ['{"type":"value","data":["ev"]}', undefined], // other spacing: general path
    ['{"type": "printf", "data": "x"}', undefined],
  ];
  for (const [line, want] of cases) deepStrictEqual(scanFlatTuple(line), want, line);
});

Deno.test("scanFlatTuple: malformed tuples throw SyntaxError, like JSON.parse does", () => {
  const P = '{"type": "value", "data": [';
  const bad = [
    P + '"ev", 1', // truncated
    P + '"ev', // unterminated string
    P + '"ev" 1]}', // missing comma
    P + '"ev", 1]', // missing }
    P + '"ev", 1]} x', // trailing garbage
    P + '"ev", tru]}',
    P + '"ev", 1,]}',
    P + '"a\tb"]}', // raw control character in a string
    P + '"ev", -]}',
    P + '"ev", 1-2]}',
    P + '"ev", 01]}', // leading zero
    P + '"ev", 1.]}',
    P + '"ev", 1e]}',
    P + '"ev", --5]}',
    P + '"ev", 1795313354.907.507]}', // long malformed number: not a text value
    P + '"ev", 17953133549075071234e]}',
    P + '"ev", 12345678901234567-8]}',
  ];
  for (const line of bad) {
    throws(() => scanFlatTuple(line), SyntaxError, line);
    throws(() => JSON.parse(line), SyntaxError, `JSON.parse agrees: ${line}`);
  }
});
