/**
 * Name templates: `"GET {path}"` with `{field}` placeholders; `{{` and `}}`
 * stand for literal braces.
 * @module
 */

/** A value a template can render. */
export type TemplateValue =
  | string
  | number
  | bigint
  | boolean
  | Uint8Array
  | undefined;

/** A compiled template. */
export interface Template {
  readonly source: string;
  /** The field names it reads. */
  readonly fields: readonly string[];
  render(get: (field: string) => TemplateValue): string;
}

/** Text for a value; bytes that are not UTF-8 are shown as `\xNN`. */
export function valueText(v: TemplateValue): string {
  if (v === undefined) return "";
  if (v instanceof Uint8Array) return escapeBytes(v);
  return String(v);
}

/** Bytes as text: printable ASCII as is, `\` as `\\`, everything else `\xNN` (lossless). */
export function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (b === 0x5c) out += "\\\\";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += "\\x" + b.toString(16).padStart(2, "0");
  }
  return out;
}

/**
 * Compiles `source`; throws an Error naming the problem when a placeholder is
 * malformed or names a field not in `known`.
 */
export function compileTemplate(
  source: string,
  known: ReadonlySet<string>,
): Template {
  const parts: (string | { field: string })[] = [];
  let text = "";
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "{" && source[i + 1] === "{") {
      text += "{";
      i++;
    } else if (c === "}" && source[i + 1] === "}") {
      text += "}";
      i++;
    } else if (c === "{") {
      const close = source.indexOf("}", i);
      if (close < 0) throw new Error(`unclosed "{" in "${source}"`);
      const field = source.slice(i + 1, close).trim();
      if (!known.has(field)) {
        throw new Error(
          `"{${field}}" names no field (fields: ${[...known].join(", ")})`,
        );
      }
      if (text) parts.push(text);
      text = "";
      parts.push({ field });
      i = close;
    } else if (c === "}") {
      throw new Error(
        `unmatched "}" in "${source}" (write }} for a literal brace)`,
      );
    } else text += c;
  }
  if (text) parts.push(text);
  const fields = parts.filter((p) => typeof p !== "string").map((p) => (p as { field: string }).field);
  if (fields.length === 0) {
    const constant = parts.join("");
    return { source, fields, render: () => constant };
  }
  return {
    source,
    fields,
    render(get) {
      let out = "";
      for (const p of parts) {
        out += typeof p === "string" ? p : valueText(get(p.field));
      }
      return out;
    },
  };
}
