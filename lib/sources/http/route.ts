/**
 * Route normalisation: a low-cardinality `http.route` from a request path.
 *
 * First the configured templates (`/users/{id}/orders/{order}`): a path
 * matches when it has the same number of segments and every literal segment
 * is equal; the template is the route. Otherwise each segment that looks
 * like an identifier is replaced by `{id}`: all digits, a UUID, a hex string
 * of 16 or more characters, or a token of 20 or more characters mixing
 * letters and digits. Paths longer than 32 segments keep their first 32.
 * @module
 */

/** The placeholder for identifier-like segments. */
export const ID_PLACEHOLDER = "{id}";

const MAX_SEGMENTS = 32;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LONG_HEX = /^[0-9a-f]{16,}$/i;
const DIGITS = /^\d+$/;
const TOKEN = /^(?=.*\d)(?=.*[a-z])[a-z0-9_-]{20,}$/i;

/** Whether a path segment looks like an identifier (see the module doc). */
export function isIdSegment(seg: string): boolean {
  return DIGITS.test(seg) || UUID.test(seg) || LONG_HEX.test(seg) || TOKEN.test(seg);
}

/** A route normaliser: `route(path)` gives the `http.route`. */
export interface RouteNormaliser {
  route(path: string): string;
}

interface Template {
  text: string;
  parts: (string | undefined)[]; // undefined: a {placeholder}
}

/** Parses templates (`/a/{x}/b`); throws an Error naming the bad one. */
export function parseTemplates(templates: string[]): Template[] {
  return templates.map((text) => {
    if (!text.startsWith("/")) throw new Error(`route template "${text}" must start with /`);
    const parts = text.split("/").slice(1).map((p) => /^\{[^{}/]+\}$/.test(p) ? undefined : p);
    return { text, parts };
  });
}

/** A normaliser with `templates` tried first, then the identifier heuristics. Caches up to 4096 paths. */
export function createRouteNormaliser(templates: string[] = []): RouteNormaliser {
  const parsed = parseTemplates(templates);
  const cache = new Map<string, string>();
  function compute(path: string): string {
    const segs = path.split("/").slice(1, MAX_SEGMENTS + 1);
    for (const t of parsed) {
      if (t.parts.length !== segs.length) continue;
      if (t.parts.every((p, i) => p === undefined || p === segs[i])) return t.text;
    }
    return "/" + segs.map((s) => isIdSegment(s) ? ID_PLACEHOLDER : s).join("/");
  }
  return {
    route(path) {
      let r = cache.get(path);
      if (r === undefined) {
        r = compute(path);
        if (cache.size >= 4096) cache.clear();
        cache.set(path, r);
      }
      return r;
    },
  };
}
