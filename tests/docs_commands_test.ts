/**
 * Every command the README and docs/ show must run verbatim (issue 9 defect
 * 5): the shell blocks and inline commands that start with `deno task`,
 * `spanprobe` or `deno run -A main.ts` are extracted, and the safe ones
 * (`probes`, `check`, `--help`, `--version`; other tasks with `--print`) run
 * from the repository root exactly as written (`spanprobe` is the launcher,
 * as the compiled binary would be), each expected to exit 0.
 */
import assert, { ok, strictEqual } from "node:assert/strict";
import { ROOT } from "./support/ebpf.ts";

/** A command as shown in a document. */
interface ShownCommand {
  file: string;
  line: string;
}

const PREFIX = /^(deno task \w+|spanprobe(?=\s|$)|deno run -A main\.ts\b)/;
const AGENT = /^(deno task start\b|spanprobe(?=\s|$)|deno run -A main\.ts\b)/;

/** Commands in fenced shell blocks (continuations joined, comments cut) and inline code spans. */
export function shownCommands(file: string, text: string): ShownCommand[] {
  const out: ShownCommand[] = [];
  for (const m of text.matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)) {
    if (!["", "sh", "bash", "shell", "console"].includes(m[1])) continue;
    for (let line of m[2].replace(/\\\n\s*/g, "").split("\n")) {
      line = line.trim().replace(/^\$ /, "").replace(/\s+#.*$/, "");
      if (PREFIX.test(line)) out.push({ file, line });
    }
  }
  const prose = text.replace(/^```[\s\S]*?^```/gm, "");
  for (const m of prose.matchAll(/`([^`\n]+)`/g)) if (PREFIX.test(m[1])) out.push({ file, line: m[1] });
  return out;
}

/** Whether a command only reads (lists, validates, prints help or what it would do): safe to run in a test. */
function isSafe(line: string): boolean {
  // other tasks (compile, test, bench, …) only when they print what they would do
  if (!AGENT.test(line)) return line.split(/\s+/).includes("--print");
  const words = line.replace(AGENT, "").trim().split(/\s+/).filter(Boolean);
  if (words.some((w) => ["--help", "-h", "--version", "-V"].includes(w))) return true;
  return words[0] === "probes" || words[0] === "check";
}

/**
 * Commands of a walk-through that builds on its own earlier steps (files it
 * created): run in order, with those steps, by the walk-through's own test.
 */
const WALKTHROUGH: Record<string, { uses: RegExp; test: string }> = {
  "docs/ringbuf.md": { uses: /\/tmp\/myprobe\//, test: "tests/ringbuf_docs_test.ts" },
};

function inWalkthrough(c: ShownCommand): boolean {
  return WALKTHROUGH[c.file]?.uses.test(c.line) ?? false;
}

/** Placeholders (`...`, `<x>`, `path/to`, `FILE`, `NAME`) mark a template, not a command. */
function isTemplate(line: string): boolean {
  return /\.\.\.|[<>[\]]|\bpath\/to\b|\b[A-Z]{3,}\b/.test(line);
}

function docs(): string[] {
  return [
    "README.md",
    ...[...Deno.readDirSync(`${ROOT}docs`)].filter((e) => e.name.endsWith(".md")).map((e) => `docs/${e.name}`),
  ];
}

Deno.test("extraction finds README's commands, templates excluded", () => {
  const readme = shownCommands("README.md", Deno.readTextFileSync(`${ROOT}README.md`)).map((c) => c.line);
  ok(readme.includes("deno task start probes"), readme.join("\n"));
  ok(isSafe("deno task start probes") && isSafe("spanprobe check --probe x.yaml") && isSafe("spanprobe run --help"));
  ok(!isSafe("deno task start --probe usdt-requests --binary /usr/local/bin/app"));
  ok(isSafe("deno task compile --print") && !isSafe("deno task compile") && !isSafe("deno task test"));
  ok(isTemplate("spanprobe check --probe path/to/NAME.yaml") && !isTemplate("deno task start probes"));
});

Deno.test("every safe command shown in README.md and docs/ runs verbatim and exits 0", async () => {
  const bin = await Deno.makeTempDir({ prefix: "spanprobe-docs-" });
  try {
    // `spanprobe` as the docs use it: the sandboxed launcher, like the compiled binary
    await Deno.writeTextFile(
      `${bin}/spanprobe`,
      `#!/bin/sh\nexec '${Deno.execPath()}' run -A '${ROOT}scripts/launch.ts' "$@"\n`,
    );
    await Deno.chmod(`${bin}/spanprobe`, 0o755);
    const commands = docs().flatMap((f) => shownCommands(f, Deno.readTextFileSync(`${ROOT}${f}`)));
    // commands of a walk-through run in its own test, after the steps they build on
    const runnable = commands.filter((c) => isSafe(c.line) && !isTemplate(c.line) && !inWalkthrough(c));
    const seen = new Set<string>();
    let ran = 0;
    for (const c of runnable) {
      if (seen.has(c.line)) continue;
      seen.add(c.line);
      const r = await new Deno.Command("sh", {
        args: ["-c", c.line],
        cwd: ROOT,
        env: { PATH: `${bin}:${Deno.env.get("PATH")}` },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(r.stderr);
      strictEqual(r.code, 0, `${c.file}: \`${c.line}\` exited ${r.code}:\n${err}`);
      ok(r.stdout.length > 0, `${c.file}: \`${c.line}\` printed something`);
      ran++;
    }
    console.log(`${ran} documented commands ran (of ${commands.length} shown):\n  ${[...seen].join("\n  ")}`);
    assert(ran >= 3, `README's probes, check and help commands at least (${ran})`);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
