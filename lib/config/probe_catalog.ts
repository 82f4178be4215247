/**
 * Finding probes: bundled ones by name (`probes/NAME.yaml`), others by path
 * to their YAML (or to the `.bt` beside it).
 * @module
 */
import { fileURLToPath } from "node:url";
import { UserError } from "../core/errors.ts";
import { fileInSpecFolder } from "./spec_files.ts";
import { readConfigText } from "./text_file.ts";

/** The folder of bundled probes (inside the compiled binary too). */
export const BUNDLED_PROBES_DIR: string = fileURLToPath(new URL("../../probes/", import.meta.url));

/** What kind of source a probe needs. */
export type ProbeKind = "bpftrace" | "ringbuf" | "http" | "go";

/** A located probe. */
export interface ProbeRef {
  name: string;
  specPath: string;
  kind: ProbeKind;
  description: string;
}

function kindOf(text: string): ProbeKind {
  if (/^http\s*:/m.test(text)) return "http"; // zero-code HTTP (lib/sources/http)
  if (/^go\s*:/m.test(text)) return "go"; // a Go probe spec (go_spec.ts)
  return /^tracing\s*:/m.test(text) ? "ringbuf" : "bpftrace";
}

function descriptionOf(text: string): string {
  const m = /^description:\s*(.+)$/m.exec(text);
  return m ? m[1].trim().replace(/^["']|["']$/g, "") : "";
}

/** Resolves a probe name or path to its spec file. Throws UserError (exit 2). */
export function findProbe(nameOrPath: string): ProbeRef {
  let specPath: string;
  if (nameOrPath.includes("/") || /\.(ya?ml|bt)$/.test(nameOrPath)) {
    specPath = nameOrPath.replace(/\.bt$/, ".yaml");
  } else {
    specPath = `${BUNDLED_PROBES_DIR}${nameOrPath}.yaml`;
  }
  let text: string;
  try {
    text = readConfigText(specPath, "probe spec");
  } catch (e) {
    if ((e as Error).cause instanceof Deno.errors.NotFound && !nameOrPath.includes("/")) {
      const names = listBundledProbes().map((p) => p.name).join(", ");
      throw new UserError(`unknown probe "${nameOrPath}" (bundled: ${names}); or give a path to a probe's .yaml`, 2);
    }
    throw e;
  }
  fileInSpecFolder(specPath, specPath, "probe spec"); // not a link out of its folder
  const name = specPath.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
  return { name, specPath, kind: kindOf(text), description: descriptionOf(text) };
}

/** Every bundled probe, sorted by name. */
export function listBundledProbes(): ProbeRef[] {
  const out: ProbeRef[] = [];
  for (const entry of Deno.readDirSync(BUNDLED_PROBES_DIR)) {
    if (!entry.isFile || !entry.name.endsWith(".yaml")) continue;
    const specPath = BUNDLED_PROBES_DIR + entry.name;
    const text = Deno.readTextFileSync(specPath);
    out.push({
      name: entry.name.replace(/\.yaml$/, ""),
      specPath,
      kind: kindOf(text),
      description: descriptionOf(text),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
