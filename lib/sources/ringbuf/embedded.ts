/**
 * Prebuilt CO-RE objects of the bundled probes: `deno task compile` builds
 * every `probes/*.bpf.c` into `dist/bpf/NAME.bpf.o` and embeds that folder in
 * the binary, so where it runs no clang, bpftool or kernel headers are needed
 * (CO-RE relocates against the running kernel's BTF at load). A manifest
 * records the hash of the sources each object was built from; an object is
 * used only while the probe's source and `probes/include/` still hash the
 * same (a checkout with edited probes builds them instead).
 * @module
 */
import { fileURLToPath } from "node:url";
import { hexOf } from "../../core/hex.ts";

/** The folder of prebuilt objects (inside the compiled binary: embedded with `--include dist/bpf/`). */
export const EMBEDDED_OBJECTS_DIR: string = fileURLToPath(new URL("../../../dist/bpf/", import.meta.url));
/** probes/include of this repository (the headers bundled probes include). */
const INCLUDE_DIR: string = fileURLToPath(new URL("../../../probes/include/", import.meta.url));

/** `dist/bpf/manifest.json`. */
export interface EmbeddedManifest {
  version: 1;
  /** Per probe name: the source hash and the object's file name. */
  objects: Record<string, { source: string; object: string }>;
}

/** The hash of a bundled probe's sources: its `.bpf.c` and every `probes/include/*.h`. */
export async function probeSourceKey(sourcePath: string, includeDir = INCLUDE_DIR): Promise<string> {
  const files = [sourcePath];
  try {
    for (const e of Deno.readDirSync(includeDir)) {
      if (e.isFile && e.name.endsWith(".h")) files.push(includeDir + e.name);
    }
  } catch { /* no include folder */ }
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of [files[0], ...files.slice(1).sort()]) {
    parts.push(enc.encode(`${f.slice(f.lastIndexOf("/") + 1)}\0`), await Deno.readFile(f), enc.encode("\0"));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return hexOf(new Uint8Array(await crypto.subtle.digest("SHA-256", all)), 0, 16);
}

/** A prebuilt object: its (virtual) path and bytes, for libbpf's `bpf_object__open_mem`. */
export interface EmbeddedObject {
  path: string;
  bytes: Uint8Array<ArrayBuffer>;
}

/**
 * The prebuilt object of the bundled probe whose source is `sourcePath`, when
 * there is one built from exactly these sources; undefined otherwise.
 */
export async function embeddedObject(
  sourcePath: string,
  dir = EMBEDDED_OBJECTS_DIR,
): Promise<EmbeddedObject | undefined> {
  let manifest: EmbeddedManifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(`${dir}manifest.json`));
  } catch {
    return undefined; // not built (a checkout without deno task compile) or not readable
  }
  const name = sourcePath.slice(sourcePath.lastIndexOf("/") + 1).replace(/\.bpf\.c$/, "");
  const entry = manifest.objects?.[name];
  if (!entry || entry.source !== await probeSourceKey(sourcePath)) return undefined;
  const path = `${dir}${entry.object}`;
  try {
    return { path, bytes: await Deno.readFile(path) };
  } catch {
    return undefined;
  }
}
