/**
 * The layer rule of docs/architecture.md, enforced: every import of `lib/` and
 * `main.ts` (static, dynamic and type-only, resolved by `deno info`) must be
 * allowed by the rule table in that document. The table is read from the
 * document, so a new folder is one new row there.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { fileURLToPath, pathToFileURL } from "node:url";
import { relative } from "node:path";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DOC = `${ROOT}docs/architecture.md`;

/** Folder (or top-level file) → what it may import; `"*"`: anything. */
type RuleTable = Map<string, string[] | "*">;

/** One import: the importing file and the imported one, relative to the repository root. */
interface Edge {
  from: string;
  line: number;
  to: string;
}

/** The rows of the table under "## The layer rule": `` | `folder` | `a`, `b` | `` (`—`: none, `*`: any). */
function parseRuleTable(markdown: string): RuleTable {
  const section = markdown.split(/^## /m).find((s) => s.startsWith("The layer rule"));
  if (!section) throw new Error(`${DOC}: no "## The layer rule" section`);
  const table: RuleTable = new Map();
  for (const line of section.split("\n")) {
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    const cell = m[2].trim();
    const allowed = cell === "`*`" ? "*" : [...cell.matchAll(/`([^`]+)`/g)].map((x) => x[1]);
    assert(!table.has(m[1]), `${DOC}: two rows for ${m[1]}`);
    table.set(m[1], allowed);
  }
  assert(table.size > 0, `${DOC}: the layer table has no rows`);
  return table;
}

/** The layer a repository path belongs to: `core`, `sources/bpftrace`, `permissions.ts`, `main.ts`; else undefined. */
function unitOf(path: string): string | undefined {
  if (path === "main.ts") return path;
  const parts = path.split("/");
  if (parts[0] !== "lib" || parts.length < 2) return undefined;
  if (parts.length === 2) return parts[1];
  if (parts[1] === "sources" && parts.length > 3) return `sources/${parts[2]}`;
  return parts[1];
}

/** The row that governs `unit` (`sources/x` falls under `sources/*`). */
function rowOf(unit: string, table: RuleTable): string | undefined {
  if (table.has(unit)) return unit;
  const wildcard = unit.replace(/\/[^/]+$/, "/*");
  return wildcard !== unit && table.has(wildcard) ? wildcard : undefined;
}

/** Every import the table does not allow, as a readable line naming file, line and row. */
function violations(edges: Edge[], table: RuleTable): string[] {
  const out: string[] = [];
  for (const { from, line, to } of edges) {
    const fromUnit = unitOf(from);
    if (fromUnit === undefined) continue;
    const row = rowOf(fromUnit, table);
    if (row === undefined) {
      out.push(`${from}:${line}: \`${fromUnit}\` has no row in the layer table of docs/architecture.md; add one`);
      continue;
    }
    const toUnit = unitOf(to);
    if (toUnit === undefined) {
      out.push(`${from}:${line} imports ${to}, outside lib/`);
      continue;
    }
    if (toUnit === fromUnit) continue;
    const allowed = table.get(row)!;
    if (allowed === "*") continue;
    const toRow = rowOf(toUnit, table);
    if (allowed.includes(toUnit) || (toRow !== undefined && allowed.includes(toRow))) continue;
    const may = allowed.length ? allowed.join(", ") : "nothing outside its folder";
    out.push(`${from}:${line} imports ${to}: \`${row}\` may import ${may} (docs/architecture.md)`);
  }
  return out;
}

/** A cycle among the rows (each row's allowed list as edges), or undefined. */
function ruleCycle(table: RuleTable): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const walk = (row: string, path: string[]): string[] | undefined => {
    if (state.get(row) === "done") return undefined;
    if (state.get(row) === "open") return [...path.slice(path.indexOf(row)), row];
    state.set(row, "open");
    const allowed = table.get(row);
    for (const next of allowed === "*" || allowed === undefined ? [] : allowed) {
      const cycle = walk(rowOf(next, table) ?? next, [...path, row]);
      if (cycle) return cycle;
    }
    state.set(row, "done");
    return undefined;
  };
  for (const row of table.keys()) {
    const cycle = walk(row, []);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Every `.ts` file under `dir`, as repository paths. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${ROOT}${dir}`)) {
    if (e.isDirectory) out.push(...tsFiles(`${dir}/${e.name}`));
    else if (e.name.endsWith(".ts")) out.push(`${dir}/${e.name}`);
  }
  return out;
}

interface InfoDependency {
  specifier: string;
  code?: { specifier: string; span: { start: { line: number } } };
  type?: { specifier: string; span: { start: { line: number } } };
}

/** Every import of `lib/` and `main.ts`, resolved by `deno info` (which sees type-only and dynamic imports too). */
async function importEdges(): Promise<Edge[]> {
  const files = [...tsFiles("lib"), "main.ts"];
  const rootFile = await Deno.makeTempFile({ prefix: "architecture_", suffix: ".ts" });
  try {
    await Deno.writeTextFile(rootFile, files.map((f) => `import "${pathToFileURL(ROOT + f).href}";\n`).join(""));
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", `${ROOT}deno.json`, rootFile],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(r.success, `deno info failed: ${new TextDecoder().decode(r.stderr)}`);
    const info = JSON.parse(new TextDecoder().decode(r.stdout)) as {
      modules: { specifier: string; error?: string; dependencies?: InfoDependency[] }[];
    };
    const edges: Edge[] = [];
    for (const m of info.modules) {
      assert(!m.error, `${m.specifier}: ${m.error}`);
      if (!m.specifier.startsWith("file:") || m.specifier === pathToFileURL(rootFile).href) continue;
      const from = relative(ROOT, fileURLToPath(m.specifier));
      for (const d of m.dependencies ?? []) {
        for (const use of [d.code, d.type]) {
          if (!use?.specifier.startsWith("file:")) continue;
          edges.push({ from, line: use.span.start.line + 1, to: relative(ROOT, fileURLToPath(use.specifier)) });
        }
      }
    }
    assert(edges.length > files.length, `too few imports found (${edges.length}): is deno info's format unchanged?`);
    return edges;
  } finally {
    await Deno.remove(rootFile);
  }
}

Deno.test("architecture: every import in lib/ and main.ts follows the layer rule of docs/architecture.md", async () => {
  const table = parseRuleTable(await Deno.readTextFile(DOC));
  const found = violations(await importEdges(), table);
  assertEquals(found, [], `imports against the layer rule:\n${found.join("\n")}`);
});

Deno.test("architecture: every folder under lib/ has a row in the layer table", async () => {
  const table = parseRuleTable(await Deno.readTextFile(DOC));
  const missing = [...new Set([...tsFiles("lib"), "main.ts"].map((f) => unitOf(f)!))]
    .filter((u) => rowOf(u, table) === undefined);
  assertEquals(missing, [], `add a row for each to docs/architecture.md: ${missing.join(", ")}`);
});

Deno.test("architecture: the layer table allows no cycle", async () => {
  const table = parseRuleTable(await Deno.readTextFile(DOC));
  const cycle = ruleCycle(table);
  assertEquals(cycle, undefined, `the layer table lets these import each other: ${cycle?.join(" → ")}`);
  // and the check does see a cycle when there is one
  assert(ruleCycle(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])));
});

Deno.test("architecture: the checker rejects what the rule forbids", async () => {
  const table = parseRuleTable(await Deno.readTextFile(DOC));
  const check = (from: string, to: string) => violations([{ from, line: 7, to }], table);
  // a source importing export, another source, the agent
  assertEquals(check("lib/sources/gotrace/mod.ts", "lib/export/sink.ts").length, 1);
  assertEquals(check("lib/sources/http/mod.ts", "lib/sources/bpftrace/mod.ts").length, 1);
  assertEquals(check("lib/sources/ringbuf/mod.ts", "lib/agent/probes.ts").length, 1);
  // anything importing upward
  assertEquals(check("lib/core/span_data.ts", "lib/spans/span_builder.ts").length, 1);
  assertEquals(check("lib/export/sink.ts", "lib/sources/ringbuf/mod.ts").length, 1);
  assertEquals(check("lib/telemetry/log.ts", "lib/config/probe_spec.ts").length, 1);
  assertEquals(check("lib/config/probe_spec.ts", "lib/spans/span_builder.ts").length, 1);
  assertEquals(check("lib/streams/lines.ts", "lib/spans/key_table.ts").length, 1);
  assertEquals(check("lib/core/ids.ts", "main.ts").length, 1);
  // lib reaching out of lib; a folder nobody placed
  assertEquals(check("lib/spans/key_table.ts", "tests/support/spans.ts").length, 1);
  const unknown = check("lib/newthing/x.ts", "lib/core/ids.ts");
  assert(unknown.length === 1 && unknown[0].includes("no row"), unknown.join());
  // the message names file, line and row
  assert(check("lib/sources/gotrace/mod.ts", "lib/export/sink.ts")[0].startsWith("lib/sources/gotrace/mod.ts:7 "));
  // allowed: own folder, lower layers, the wiring importing sources and export
  assertEquals(check("lib/sources/gotrace/mod.ts", "lib/sources/gotrace/parse.ts"), []);
  assertEquals(check("lib/sources/go/mod.ts", "lib/core/span_data.ts"), []);
  assertEquals(check("lib/sources/bpftrace/mod.ts", "lib/spans/span_builder.ts"), []);
  assertEquals(check("lib/agent/probes.ts", "lib/sources/http/mod.ts"), []);
  assertEquals(check("lib/agent/outputs.ts", "lib/export/sink.ts"), []);
  assertEquals(check("main.ts", "lib/agent/run_agent.ts"), []);
});
