/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for
 * tests: every sample with its labels, plus `# HELP` / `# TYPE` per family.
 * Throws on a line it cannot read.
 * @module
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition. */
export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  help: Map<string, string>;
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
}

/** Parses exposition text. */
export function parsePrometheusText(text: string): Exposition {
  const out: Exposition = { samples: [], types: new Map(), help: new Map() };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      (m[1] === "HELP" ? out.help : out.types).set(m[2], m[1] === "HELP" ? unescape(m[3]) : m[3]);
      continue;
    }
    if (line.startsWith("#")) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? "";
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let at = 0;
    while (at < body.length) {
      re.lastIndex = at;
      const l = re.exec(body);
      if (!l) throw new Error(`bad labels in ${JSON.stringify(line)}`);
      labels[l[1]] = unescape(l[2]);
      at = re.lastIndex;
    }
    const value = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== "NaN") throw new Error(`bad value in ${JSON.stringify(line)}`);
    out.samples.push({ name: m[1], labels, value });
  }
  return out;
}

/** A stable text key of a sample's name and labels (label order ignored). */
export function sampleKey(s: { name: string; labels: Record<string, string> }): string {
  return s.name + JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}
