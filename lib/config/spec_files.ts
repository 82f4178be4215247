/**
 * Files a probe spec names (its bpftrace script, its BPF C source and the
 * headers that source includes) must lie in the spec's own folder, by real
 * path: the launcher grants read on that folder, and Deno checks paths as
 * written, so a symbolic link there (`evil.bt → /etc/shadow`) would otherwise
 * be read, handed to bpftrace or clang, and echoed in their error messages.
 * See docs/permissions.md.
 * @module
 */
import { dirname, resolve } from "node:path";
import { UserError } from "../core/errors.ts";
import { BUNDLED_PROBES_DIR } from "./probe_catalog.ts";

/** Why `name` (as written in a spec) cannot name a file beside it, or undefined when it can. */
export function specFileNameProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (name.startsWith("/")) return "is absolute; name a file in the spec's folder";
  if (name.split("/").includes("..")) return `leaves the spec's folder ("..")`;
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return "contains control characters";
  return undefined;
}

function realPath(path: string, what: string, specPath: string): string {
  try {
    return Deno.realPathSync(path);
  } catch (e) {
    throw new UserError(`${specPath}: cannot read ${what} ${path}: ${(e as Error).message}`, 2);
  }
}

/**
 * The real path of `path` (a file the spec at `specPath` uses), after
 * checking it lies inside the real path of the spec's folder. Bundled probes
 * are part of the build and not checked. Throws UserError (exit 2) naming the
 * spec, the file and where the link points.
 */
export function fileInSpecFolder(specPath: string, path: string, what: string): string {
  const abs = resolve(path);
  if (resolve(specPath).startsWith(BUNDLED_PROBES_DIR)) return abs;
  const folder = realPath(dirname(resolve(specPath)), "the folder of", specPath);
  const real = realPath(abs, what, specPath);
  if (!real.startsWith(folder.endsWith("/") ? folder : `${folder}/`)) {
    throw new UserError(
      `${specPath}: ${what} ${path} resolves to ${real}, outside the spec's folder ${folder}; ` +
        `copy the file into that folder (symbolic links out of it are refused)`,
      2,
    );
  }
  return real;
}

/** `#include "x"` and `#include <x>` names in C source text, with their 1-based lines. */
export function includesOf(source: string): { name: string; line: number; quoted: boolean }[] {
  const out: { name: string; line: number; quoted: boolean }[] = [];
  source.split("\n").forEach((text, i) => {
    const m = /^\s*#\s*include\s*(?:"([^"]*)"|<([^>]*)>)/.exec(text);
    if (m) out.push({ name: m[1] ?? m[2], line: i + 1, quoted: m[1] !== undefined });
  });
  return out;
}

/**
 * Checks the headers a BPF C source (and, recursively, the quoted headers of
 * its folder) includes: no absolute names and no `..`, and a quoted header
 * found beside the source must be inside the spec's folder by real path.
 * `<...>` headers come from the include path (vmlinux.h, libbpf, the
 * distribution). Throws UserError (exit 2) naming file and line.
 */
export function checkBpfIncludes(specPath: string, sourcePath: string): void {
  const seen = new Set<string>();
  const visit = (file: string) => {
    const real = fileInSpecFolder(specPath, file, "BPF source");
    if (seen.has(real)) return;
    seen.add(real);
    const text = Deno.readTextFileSync(real);
    for (const inc of includesOf(text)) {
      const problem = specFileNameProblem(inc.name);
      if (problem) {
        throw new UserError(`${file}:${inc.line}: #include ${JSON.stringify(inc.name)} ${problem}`, 2);
      }
      if (!inc.quoted) continue;
      const beside = `${dirname(real)}/${inc.name}`;
      let exists = false;
      try {
        Deno.lstatSync(beside);
        exists = true;
      } catch { /* from the include path */ }
      if (exists) visit(beside);
    }
  };
  visit(sourcePath);
}
