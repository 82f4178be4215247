/**
 * Exact JSON for bpftrace output: integers beyond 2^53 become `bigint`,
 * long decimals keep their source text, and bpftrace's sign-extended bytes
 * (`\uffffffc3`) are repaired to the bytes they stand for.
 *
 * A fast scanner handles the hot shape (`{"type": "value", "data": [flat
 * tuple]}`); everything else goes through `JSON.parse` with a reviver that
 * reads each number's source text.
 * @module
 */

/** A JSON value as spanprobe sees it: exact integers, bytes for non-UTF-8 strings. */
export type ExactValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | ExactValue[]
  | { [key: string]: ExactValue };

const utf8 = new TextDecoder("utf-8", { fatal: true });
// `\uffffffXX` not preceded by an escaped backslash (`\\uffffff..` is text)
const SIGN_EXTENDED = /(?<!\\)((?:\\\\)*)\\uffffff([0-9a-fA-F]{2})/g;
const INTEGER = /^-?\d+$/;
/** A JSON number token (RFC 8259). */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * The exact value of a number token: a `number` when exactly representable
 * (safe integers, short decimals), else a `bigint` (integers) or the token text.
 */
export function exactNumber(text: string): number | bigint | string {
  if (text.length < 16) return Number(text);
  if (INTEGER.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  }
  return text;
}

/**
 * Decodes the contents of a JSON string literal (without quotes) including
 * bpftrace's `\uffffffXX` byte escapes: valid UTF-8 becomes a string, anything
 * else stays bytes.
 */
export function decodeJsonString(raw: string): string | Uint8Array {
  if (raw.indexOf("\\") < 0) return raw;
  if (raw.indexOf("\\uffffff") < 0) return JSON.parse('"' + raw + '"');
  const latin1: string = JSON.parse(
    '"' + raw.replace(SIGN_EXTENDED, "$1\\u00$2") + '"',
  );
  return bytesOrString(latin1);
}

/** Chars 0x80–0xFF of a repaired string are raw bytes: decode them as UTF-8 if valid. */
function bytesOrString(latin1: string): string | Uint8Array {
  const bytes = new Uint8Array(latin1.length);
  for (let i = 0; i < latin1.length; i++) {
    const c = latin1.charCodeAt(i);
    if (c > 0xff) return latin1; // not a byte string after all
    bytes[i] = c;
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes;
  }
}

function reviver(
  this: unknown,
  _key: string,
  value: unknown,
  context?: { source?: string },
): unknown {
  if (typeof value === "number" && context?.source !== undefined) {
    const src = context.source;
    return src.length < 16 ? value : exactNumber(src);
  }
  return value;
}

function repairStrings(value: ExactValue): ExactValue {
  if (typeof value === "string") {
    for (let i = 0; i < value.length; i++) {
      if (value.charCodeAt(i) >= 0x80) return bytesOrString(value);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map(repairStrings);
  if (value && typeof value === "object" && !(value instanceof Uint8Array)) {
    const out: { [key: string]: ExactValue } = {};
    for (const [k, v] of Object.entries(value)) out[k] = repairStrings(v);
    return out;
  }
  return value;
}

/** Parses any JSON text exactly (the general, slower path). Throws SyntaxError. */
export function parseExact(text: string): ExactValue {
  const repair = text.indexOf("\\uffffff") >= 0;
  const src = repair ? text.replace(SIGN_EXTENDED, "$1\\u00$2") : text;
  // deno-lint-ignore no-explicit-any
  const value = JSON.parse(src, reviver as any) as ExactValue;
  return repair ? repairStrings(value) : value;
}

const TUPLE_PREFIX = '{"type": "value", "data": [';

const encoder = new TextEncoder();
const lossyUtf8 = new TextDecoder();
const PREFIX_BYTES = encoder.encode(TUPLE_PREFIX);
const TRUE_BYTES = encoder.encode("true");
const FALSE_BYTES = encoder.encode("false");
const NULL_BYTES = encoder.encode("null");

function isWsByte(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function bytesAt(b: Uint8Array, i: number, end: number, word: Uint8Array): boolean {
  if (i + word.length > end) return false;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return false;
  return true;
}

/**
 * Fast path: the elements of a line shaped `{"type": "value", "data": [...]}`
 * whose array holds only strings, numbers, booleans and nulls. Returns
 * `undefined` when the line has another shape (use {@linkcode parseExact}).
 * Throws SyntaxError on a malformed line of that shape.
 */
export function scanFlatTuple(line: string): ExactValue[] | undefined {
  if (!line.startsWith(TUPLE_PREFIX)) return undefined;
  const bytes = encoder.encode(line);
  return scanTupleBytes(bytes, 0, bytes.length, bytes.length === line.length ? line : undefined);
}

/**
 * {@linkcode scanFlatTuple} over the UTF-8 bytes `b[start, end)` of a line.
 * `text`, when given, holds the same characters at the same offsets (one
 * byte per character): strings are sliced from it. Without it, strings are
 * decoded from the bytes.
 */
export function scanTupleBytes(
  b: Uint8Array,
  start: number,
  end: number,
  text: string | undefined,
): ExactValue[] | undefined {
  const P = PREFIX_BYTES;
  if (end - start < P.length) return undefined;
  for (let k = 0; k < P.length; k++) if (b[start + k] !== P[k]) return undefined;
  const str = (s: number, e: number): string =>
    text !== undefined ? text.slice(s, e) : lossyUtf8.decode(b.subarray(s, e));
  const out: ExactValue[] = [];
  const n = end;
  let i = start + P.length;
  while (i < n && isWsByte(b[i])) i++;
  if (i < n && b[i] === 93 /* ] */) {
    i++;
  } else {
    for (;;) {
      while (i < n && isWsByte(b[i])) i++;
      const c = i < n ? b[i] : -1;
      if (c === 34 /* " */) {
        const s = ++i;
        let escaped = false;
        for (; i < n; i++) {
          const d = b[i];
          if (d === 92 /* \ */) {
            escaped = true;
            i++;
          } else if (d === 34) break;
          else if (d < 32) throw new SyntaxError("control character in string");
        }
        if (i >= n) throw new SyntaxError("unterminated string");
        const raw = str(s, i++);
        out.push(escaped ? decodeJsonString(raw) : raw);
      } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
        // Integers are accumulated while scanning (no slice, no regex: the hot
        // path); fractions, exponents and > 15 digits take the exact text path.
        const s = i;
        if (c === 45) i++;
        const digitsStart = i;
        let v = 0;
        for (; i < n; i++) {
          const d = b[i];
          if (d < 48 || d > 57) break;
          v = v * 10 + (d - 48);
        }
        const digits = i - digitsStart;
        const next = i < n ? b[i] : 0;
        if (digits > 15 && next !== 46 && next !== 101 && next !== 69 && next !== 43 && next !== 45) {
          // a long integer (wall-clock ns): exact, straight to bigint
          if (b[digitsStart] === 48) throw new SyntaxError(`bad number at ${s - start}`);
          // v was accumulated exactly while it stayed below 2^53
          out.push(Number.isSafeInteger(v) ? (c === 45 ? -v : v) : BigInt(str(s, i)));
        } else if (digits > 15 || next === 46 || next === 101 || next === 69) {
          for (; i < n; i++) {
            const d = b[i];
            if (!((d >= 48 && d <= 57) || d === 46 || d === 101 || d === 69 || d === 43 || d === 45)) break;
          }
          const t = str(s, i);
          if (!JSON_NUMBER.test(t)) throw new SyntaxError(`bad number ${t}`);
          out.push(exactNumber(t));
        } else {
          if (digits === 0 || (digits > 1 && b[digitsStart] === 48) || next === 43 || next === 45) {
            throw new SyntaxError(`bad number at ${s - start}`);
          }
          out.push(c === 45 ? -v : v);
        }
      } else if (bytesAt(b, i, n, TRUE_BYTES)) {
        out.push(true);
        i += 4;
      } else if (bytesAt(b, i, n, FALSE_BYTES)) {
        out.push(false);
        i += 5;
      } else if (bytesAt(b, i, n, NULL_BYTES)) {
        out.push(null);
        i += 4;
      } else if (c === 91 || c === 123) {
        return undefined; // nested value: general path
      } else {
        throw new SyntaxError(`unexpected character at ${i - start}`);
      }
      while (i < n && isWsByte(b[i])) i++;
      const sep = i < n ? b[i] : -1;
      i++;
      if (sep === 93 /* ] */) break;
      if (sep !== 44 /* , */) {
        throw new SyntaxError(`expected , or ] at ${i - 1 - start}`);
      }
    }
  }
  while (i < n && isWsByte(b[i])) i++;
  if (i >= n || b[i] !== 125 /* } */) throw new SyntaxError("expected }");
  i++;
  while (i < n && isWsByte(b[i])) i++;
  if (i !== n) throw new SyntaxError("trailing characters");
  return out;
}
