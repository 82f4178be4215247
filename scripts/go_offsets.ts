/**
 * Regenerates lib/sources/go/offsets_table.json, the Go probe's fallback
 * field offsets for binaries without DWARF: builds tests/targets/go_http
 * with the Go on PATH (or $GO), reads the offsets from its DWARF with the
 * agent's own reader, and stores them under that Go's `go1.N` key (other
 * versions' entries are kept). Run once per Go version you can build:
 *
 *   deno run -A scripts/go_offsets.ts
 * @module
 */
import { fileURLToPath } from "node:url";
import { readGoVersion } from "../lib/sources/go/build_info.ts";
import { readFieldOffsets } from "../lib/sources/go/dwarf.ts";
import { parseElf } from "../lib/sources/go/elf.ts";
import { WANTED_FIELDS } from "../lib/sources/go/offsets.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const tablePath = `${root}lib/sources/go/offsets_table.json`;

/** Builds the test program with `go` and returns `go1.N` and its offsets. */
export async function generateOffsets(go = "go"): Promise<[string, Record<string, number>]> {
  const tmp = await Deno.makeTempDir({ prefix: "spanprobe-go-offsets-" });
  try {
    const bin = `${tmp}/go_http`;
    const out = await new Deno.Command(go, {
      args: ["build", "-o", bin, "."],
      cwd: `${root}tests/targets/go_http`,
      env: { GOCACHE: `${tmp}/cache`, GO111MODULE: "off", GOFLAGS: "" },
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`go build failed: ${new TextDecoder().decode(out.stderr)}`);
    const elf = parseElf(bin, await Deno.readFile(bin));
    const v = readGoVersion(elf);
    const fields = await readFieldOffsets(elf, WANTED_FIELDS);
    const entry = Object.fromEntries([...fields.entries()].sort(([a], [b]) => a.localeCompare(b)));
    return [`go${v.major}.${v.minor}`, entry];
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) {
  const [key, entry] = await generateOffsets(Deno.env.get("GO") ?? "go");
  const table = JSON.parse(await Deno.readTextFile(tablePath)) as Record<string, Record<string, number>>;
  table[key] = entry;
  const sorted = Object.fromEntries(Object.entries(table).sort(([a], [b]) => a.localeCompare(b)));
  await Deno.writeTextFile(tablePath, JSON.stringify(sorted, null, 2) + "\n");
  console.log(`${tablePath}: ${key} (${Object.keys(entry).length} fields)`);
}
