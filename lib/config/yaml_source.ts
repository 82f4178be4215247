/**
 * YAML with positions: parse a file and point errors at `file:line:col`.
 * @module
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { Node } from "yaml";
import { UserError } from "../core/errors.ts";

/** A parsed YAML file that can locate its nodes. */
export interface YamlSource {
  readonly path: string;
  readonly root: unknown;
  /** `path:line:col: message`, with the position of `node` when known. */
  error(node: unknown, message: string): UserError;
}

/** Parses `text` (read from `path`); syntax errors become UserError (exit 2) with line and column. */
export function parseYamlSource(path: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  // the yaml package's own duplicate-key check compares every key with every
  // earlier one (quadratic: a 1 MB spec took 30 s); keys are checked below, once each
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const where = (offset: number | undefined) => {
    if (offset === undefined) return path;
    const { line, col } = lineCounter.linePos(offset);
    return `${path}:${line}:${col}`;
  };
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new UserError(
      `${where(e.pos[0])}: invalid YAML: ${e.message.split("\n")[0]}`,
      2,
    );
  }
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(key)) {
          throw new UserError(
            `${where((pair.key as Node | undefined)?.range?.[0])}: invalid YAML: duplicate key "${key}"`,
            2,
          );
        }
        seen.add(key);
      }
    },
  });
  return {
    path,
    root: doc.contents,
    error(node, message) {
      const range = (node as Node | undefined)?.range;
      return new UserError(`${where(range?.[0])}: ${message}`, 2);
    },
  };
}

/** Entries of a YAML mapping node as [key, keyNode, valueNode]; throws when `node` is not a mapping. */
export function mapEntries(
  src: YamlSource,
  node: unknown,
  what: string,
): [string, unknown, unknown][] {
  if (!isMap(node)) throw src.error(node, `${what} must be a mapping`);
  return node.items.map((pair) => {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    return [key, pair.key, pair.value];
  });
}

/** Items of a YAML sequence node; throws when `node` is not a sequence. */
export function seqItems(
  src: YamlSource,
  node: unknown,
  what: string,
): unknown[] {
  if (!isSeq(node)) throw src.error(node, `${what} must be a list`);
  return node.items;
}

/** The value of a scalar node, or throws naming `what`. */
export function scalarValue(
  src: YamlSource,
  node: unknown,
  what: string,
): unknown {
  if (!isScalar(node)) throw src.error(node, `${what} must be a single value`);
  return node.value;
}

/** A string scalar, or throws naming `what`. */
export function stringValue(
  src: YamlSource,
  node: unknown,
  what: string,
): string {
  const v = scalarValue(src, node, what);
  if (typeof v !== "string" || v === "") {
    throw src.error(node, `${what} must be a non-empty string`);
  }
  return v;
}

/**
 * Checks a mapping's keys against `allowed`, failing on the first unknown one
 * (catches typos such as `atributes`). Returns the entries by key.
 */
export function knownKeys(
  src: YamlSource,
  node: unknown,
  what: string,
  allowed: readonly string[],
): Map<string, { keyNode: unknown; value: unknown }> {
  const out = new Map<string, { keyNode: unknown; value: unknown }>();
  for (const [key, keyNode, value] of mapEntries(src, node, what)) {
    if (!allowed.includes(key)) {
      throw src.error(
        keyNode,
        `unknown key "${key}" in ${what} (expected one of: ${allowed.join(", ")})`,
      );
    }
    out.set(key, { keyNode, value });
  }
  return out;
}
