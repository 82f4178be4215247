/**
 * Keeping secrets out of logs and error messages: URLs lose their userinfo
 * and query string, and a redactor replaces every known secret value
 * (header values, URL credentials) wherever it appears in a logged text,
 * e.g. in a collector's error body that echoes the request's headers.
 * @module
 */

/** What a secret is replaced with. */
export const REDACTED = "REDACTED";

/** Secrets shorter than this are not searched for in text (too many false hits); URLs still lose them. */
const MIN_SECRET_LENGTH = 3;

/** `url` without userinfo and query string (`http://REDACTED@host/path?REDACTED`); non-URLs pass through {@linkcode redactUrlsIn}. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactUrlsIn(url);
  }
  const auth = parsed.username || parsed.password ? `${REDACTED}@` : "";
  const query = parsed.search ? `?${REDACTED}` : "";
  return `${parsed.protocol}//${auth}${parsed.host}${parsed.pathname}${query}${parsed.hash ? "#" : ""}`;
}

/** `text` with the userinfo of every `scheme://user:pass@` and the query of every http(s) URL replaced. */
export function redactUrlsIn(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"']+@/gi, `$1${REDACTED}@`)
    .replace(/(https?:\/\/[^\s?#"']*)\?[^\s#"']*/gi, `$1?${REDACTED}`);
}

/** Replaces known secrets in text. */
export interface Redactor {
  /** Treat `value` as secret from now on (also its percent-encoded form). */
  add(value: string | undefined): void;
  /** Treat the credentials and query of `url` as secret. */
  addUrl(url: string | undefined): void;
  /** `text` with every known secret, URL credential and URL query replaced by {@linkcode REDACTED}. */
  redact(text: string): string;
}

/** A redactor that knows no secrets yet (it still strips URL credentials and queries). */
export function createRedactor(): Redactor {
  const secrets = new Set<string>();
  let ordered: string[] = [];
  const add = (value: string | undefined) => {
    if (value === undefined || value.length < MIN_SECRET_LENGTH || secrets.has(value)) return;
    secrets.add(value);
    let encoded = value;
    try {
      encoded = encodeURIComponent(value);
    } catch { /* lone surrogate: the plain form only */ }
    if (encoded !== value) secrets.add(encoded);
    // longest first, so a secret containing another is replaced whole
    ordered = [...secrets].sort((a, b) => b.length - a.length);
  };
  return {
    add,
    addUrl(url) {
      if (!url) return;
      try {
        const u = new URL(url);
        for (const part of [u.username, u.password]) {
          add(part);
          try {
            add(decodeURIComponent(part));
          } catch { /* not percent-encoded */ }
        }
        if (u.search.length > 1) add(u.search.slice(1));
      } catch { /* not a URL: nothing to learn */ }
    },
    redact(text) {
      let out = text;
      for (const s of ordered) if (out.includes(s)) out = out.replaceAll(s, REDACTED);
      return redactUrlsIn(out);
    },
  };
}
