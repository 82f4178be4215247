// Table-driven tests of the decoders that need no system facts.
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { chainDecoders, createDecoder, DecodeError, type DecoderConfig } from "../lib/decoders/mod.ts";

const le = (n: bigint, size: number) => {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return b;
};
const str = (s: string, size: number) => {
  const b = new Uint8Array(size);
  b.set(new TextEncoder().encode(s).subarray(0, size));
  return b;
};

/** Decode `input` (whole buffer = the field) through `configs`, as text. */
function decode(configs: DecoderConfig[], input: Uint8Array, typed = false) {
  const chain = chainDecoders(configs.map((c) => createDecoder(c)), input.length, typed);
  // Place the field at a non-zero offset to catch offset bugs.
  const buf = new Uint8Array(input.length + 3);
  buf.set(input, 3);
  return chain(buf, 3);
}

type Case = [
  name: string,
  configs: DecoderConfig[],
  input: Uint8Array,
  want: unknown,
  typed?: boolean,
];

const cases: Case[] = [
  ["hex id", [{ name: "hex" }], new Uint8Array([0, 1, 0xab, 0xff]), "0001abff"],
  ["uint 1", [{ name: "uint" }], le(200n, 1), "200"],
  ["uint 2", [{ name: "uint" }], le(65535n, 2), "65535"],
  ["uint 4", [{ name: "uint" }], le(4294967295n, 4), "4294967295"],
  ["uint 8 small", [{ name: "uint" }], le(123456789012n, 8), "123456789012"],
  ["uint 8 max", [{ name: "uint" }], le(0xffff_ffff_ffff_ffffn, 8), "18446744073709551615"],
  ["uint typed number", [{ name: "uint" }], le(42n, 4), 42, true],
  ["uint typed 2^53", [{ name: "uint" }], le(1n << 53n, 8), 9007199254740992n, true],
  ["uint typed max safe", [{ name: "uint" }], le((1n << 53n) - 1n, 8), 9007199254740991, true],
  ["uint typed > int64", [{ name: "uint" }], le(1n << 63n, 8), "9223372036854775808", true],
  ["string nul", [{ name: "string" }], str("bash", 16), "bash"],
  ["string full", [{ name: "string" }], str("abcd", 4), "abcd"],
  ["string utf8", [{ name: "string" }], str("héllo", 16), "héllo"],
  ["string bad utf8", [{ name: "string" }], new Uint8Array([0x61, 0xff, 0]), "a\ufffd"],
  ["string empty", [{ name: "string" }], new Uint8Array(8), ""],
  [
    "static_map hit",
    [{ name: "uint" }, { name: "static_map", static_map: { "1": "one" } }],
    le(1n, 4),
    "one",
  ],
  [
    "static_map miss",
    [{ name: "uint" }, { name: "static_map", static_map: { "1": "one" } }],
    le(2n, 4),
    "unknown:2",
  ],
  [
    "static_map allow_unknown",
    [{ name: "uint" }, { name: "static_map", static_map: { "1": "one" }, allow_unknown: true }],
    le(7n, 4),
    "7",
  ],
  [
    "static_map raw first",
    [{ name: "static_map", static_map: { "3": "three" } }],
    le(3n, 2),
    "three",
  ],
  [
    "regexp match",
    [{ name: "string" }, { name: "regexp", regexps: ["^ba", "^zz"] }],
    str("bash", 16),
    "bash",
  ],
  [
    "regexp skip",
    [{ name: "string" }, { name: "regexp", regexps: ["^sh$"] }],
    str("bash", 16),
    null,
  ],
  ["errno", [{ name: "uint" }, { name: "errno" }], le(2n, 4), "ENOENT"],
  ["errno raw", [{ name: "errno" }], le(13n, 4), "EACCES"],
  ["errno zero", [{ name: "errno" }], le(0n, 4), "OK"],
  ["errno unknown", [{ name: "errno" }], le(4000n, 4), "unknown:4000"],
  ["syscall", [{ name: "uint" }, { name: "syscall" }], le(0n, 8), "read"],
  ["syscall openat", [{ name: "syscall" }], le(257n, 8), "openat"],
  ["syscall new", [{ name: "syscall" }], le(462n, 8), "mseal"],
  ["syscall unknown", [{ name: "syscall" }], le(9999n, 8), "unknown_syscall:9999"],
  [
    "dname",
    [{ name: "dname" }],
    new Uint8Array([7, ...str("example", 7), 3, ...str("com", 3), 0, 0, 0]),
    "example.com",
  ],
  ["dname one label", [{ name: "dname" }], new Uint8Array([3, 0x63, 0x6f, 0x6d]), "com"],
  ["dname empty", [{ name: "dname" }], new Uint8Array(0), "."],
  ["dname root", [{ name: "dname" }], new Uint8Array(4), "."],
  ["dname overrun", [{ name: "dname" }], new Uint8Array([5, 0x63, 0x6f, 0x6d]), "\x05com"],
  ["ipv4", [{ name: "inet_ip" }], new Uint8Array([10, 0, 0, 1]), "10.0.0.1"],
  ["ipv6 loopback", [{ name: "inet_ip" }], new Uint8Array([...new Array(15).fill(0), 1]), "::1"],
  ["ipv6 any", [{ name: "inet_ip" }], new Uint8Array(16), "::"],
  [
    "ipv6 doc",
    [{ name: "inet_ip" }],
    new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    "2001:db8::1",
  ],
  [
    "ipv6 single zero group not compressed",
    [{ name: "inet_ip" }],
    new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]),
    "2001:db8:0:1:1:1:1:1",
  ],
  [
    "ipv4-mapped ipv6",
    [{ name: "inet_ip" }],
    new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2]),
    "192.168.1.2",
  ],
  ["hex after string", [{ name: "string" }, { name: "hex" }], str("AB", 4), "4142"],
];

for (const [name, configs, input, want, typed] of cases) {
  Deno.test(`decoder: ${name}`, () => {
    assertEquals(decode(configs, input, typed ?? false), want);
  });
}

/** Asserts `fn` throws an instance of `cls` whose message contains `text`. */
function assertThrows(fn: () => unknown, cls: new (...a: never[]) => Error, text: string) {
  throws(fn, (e: unknown) => e instanceof cls && e.message.includes(text));
}

Deno.test("decoder: errors are DecodeError", () => {
  assertThrows(() => decode([{ name: "uint" }], new Uint8Array(3)), DecodeError, "3 bytes");
  assertThrows(() => decode([{ name: "inet_ip" }], new Uint8Array(5)), DecodeError, "5 bytes");
  assertThrows(
    () => decode([{ name: "string" }, { name: "errno" }], str("x1", 4)),
    DecodeError,
    "unsigned",
  );
});

Deno.test("decoder: bad settings are rejected at creation", () => {
  assertThrows(() => createDecoder({ name: "nope" }), Error, 'unknown decoder "nope"');
  assertThrows(() => createDecoder({ name: "static_map" }), Error, "static_map");
  assertThrows(() => createDecoder({ name: "regexp" }), Error, "regexps");
  assertThrows(() => createDecoder({ name: "regexp", regexps: ["("] }), Error, "invalid regexp");
  assertThrows(() => createDecoder({ name: "__proto__" }), Error, "unknown decoder");
});
