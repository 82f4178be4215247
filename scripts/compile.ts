/**
 * `deno task compile`: builds dist/spanprobe, a single executable with the
 * deploy permission set of lib/permissions.ts baked in and the bundled probes
 * embedded with `--include probes/`. The default (`--profile full`) carries
 * the ring-buffer source: FFI in the baked set, and every `probes/*.bpf.c`
 * compiled here into a CO-RE object in dist/bpf/ (embedded with `--include
 * dist/bpf/`), so no clang, bpftool or kernel headers are needed where it
 * runs. `--profile bpftrace` builds the narrower binary without FFI and
 * without ring-buffer probes. See docs/permissions.md for what each costs.
 *
 *   deno task compile [--output PATH] [--target TRIPLE] [--allow-net HOST:PORT,...] [--profile full|bpftrace] [--print]
 *
 * `--allow-net` (or env SPANPROBE_ALLOW_NET) narrows the network to the
 * collector known at build time. `--print` prints the `deno` argv as JSON
 * and builds nothing. `deno compile` needs its `denort` runtime: it is
 * downloaded from dl.deno.land on first use, or taken from DENORT_BIN when
 * set (see docs/deploy.md for offline builds).
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { deployPermissions, parseNetList, permissionFlags } from "../lib/permissions.ts";
import { buildBpfObject } from "../lib/sources/ringbuf/build.ts";
import { type EmbeddedManifest, probeSourceKey } from "../lib/sources/ringbuf/embedded.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** What the binary carries: everything (`full`) or bpftrace probes only (no FFI). */
export type CompileProfile = "full" | "bpftrace";

/** Options of {@linkcode compileArgs}. */
export interface CompileOptions {
  /** Default `dist/spanprobe`. */
  output?: string;
  /** `deno compile --target` (Linux glibc targets only: bpftrace is Linux-only). */
  target?: string;
  /** Narrow the network to these `host:port` (default: any host except the metadata addresses). */
  net?: string[];
  /** Default `full`. */
  profile?: CompileProfile;
}

/** Where the prebuilt objects of the bundled probes go (embedded in the full profile). */
export const OBJECTS_DIR = "dist/bpf/";

/** The permission flags baked into the binary: exactly lib/permissions.ts's deploy set. */
export function compilePermissionFlags(o: CompileOptions = {}): string[] {
  return permissionFlags(deployPermissions({ net: o.net, ffi: (o.profile ?? "full") === "full" }));
}

/** The `deno` argv that builds the binary (run from the repository root). */
export function compileArgs(o: CompileOptions = {}): string[] {
  return [
    "compile",
    "--frozen",
    ...compilePermissionFlags(o),
    "--include",
    "probes/",
    ...((o.profile ?? "full") === "full" ? ["--include", OBJECTS_DIR] : []),
    ...(o.target ? ["--target", o.target] : []),
    "--output",
    o.output ?? "dist/spanprobe",
    "main.ts",
  ];
}

/**
 * The same permission set for `deno run` from a checkout, where nothing is
 * embedded: the repository's probes/ and dist/bpf/ stand in for the binary's
 * embedded copies (which Deno makes readable by itself). CI runs the agent
 * with these because it cannot download denort.
 */
export function deployRunFlags(o: CompileOptions = {}): string[] {
  const ffi = (o.profile ?? "full") === "full";
  const extraRead = [`${root}probes`, ...(ffi ? [`${root}${OBJECTS_DIR.slice(0, -1)}`] : [])];
  return permissionFlags(deployPermissions({ net: o.net, ffi, extraRead }));
}

/**
 * Builds every `probes/*.bpf.c` (whatever probes there are) into `outDir`
 * as NAME.bpf.o with a manifest of the source hashes they were built from;
 * stale objects are removed. Needs clang, bpftool and kernel BTF here (CO-RE:
 * the objects load on other kernels). Returns the probe names.
 */
export async function buildEmbeddedObjects(outDir = `${root}${OBJECTS_DIR}`, cacheDir = `${root}.cache/bpf`) {
  const sources = [...Deno.readDirSync(`${root}probes`)]
    .filter((e) => e.isFile && e.name.endsWith(".bpf.c")).map((e) => e.name).sort();
  const manifest: EmbeddedManifest = { version: 1, objects: {} };
  const staging = `${outDir.replace(/\/$/, "")}.tmp-${Deno.pid}`;
  await Deno.mkdir(staging, { recursive: true });
  try {
    for (const file of sources) {
      const name = file.replace(/\.bpf\.c$/, "");
      const src = `${root}probes/${file}`;
      const built = await buildBpfObject(src, cacheDir);
      await Deno.copyFile(built, `${staging}/${name}.bpf.o`);
      manifest.objects[name] = { source: await probeSourceKey(src), object: `${name}.bpf.o` };
    }
    await Deno.writeTextFile(`${staging}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
    await Deno.remove(outDir, { recursive: true }).catch(() => {});
    await Deno.rename(staging, outDir);
  } catch (e) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw e;
  }
  return Object.keys(manifest.objects);
}

const SUPPORTED_TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"];

/** Parses the task's command line and environment into options. Throws on bad input. */
export function parseCompileArgs(args: string[], env: (k: string) => string | undefined): CompileOptions & {
  print: boolean;
} {
  const { values } = parseArgs({
    args,
    options: {
      output: { type: "string", short: "o" },
      target: { type: "string" },
      "allow-net": { type: "string" },
      profile: { type: "string" },
      print: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.target && !SUPPORTED_TARGETS.includes(values.target)) {
    throw new Error(`--target ${values.target}: spanprobe runs on Linux glibc only (${SUPPORTED_TARGETS.join(", ")})`);
  }
  const profile = values.profile ?? "full";
  if (profile !== "full" && profile !== "bpftrace") {
    throw new Error(`--profile ${profile}: expected full (bpftrace and ring-buffer probes) or bpftrace (no FFI)`);
  }
  const netText = values["allow-net"] ?? env("SPANPROBE_ALLOW_NET") ?? "";
  const net = parseNetList(netText);
  return {
    output: values.output,
    target: values.target,
    net: net.length ? net : undefined,
    profile,
    print: !!values.print,
  };
}

if (import.meta.main) {
  let options: ReturnType<typeof parseCompileArgs>;
  try {
    options = parseCompileArgs(Deno.args, (k) => Deno.env.get(k));
  } catch (e) {
    console.error(`compile: ${(e as Error).message}`);
    Deno.exit(2);
  }
  const args = compileArgs(options);
  if (options.print) {
    console.log(JSON.stringify([Deno.execPath(), ...args]));
    Deno.exit(0);
  }
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    try {
      Deno.statSync(denort);
    } catch (e) {
      console.error(`compile: DENORT_BIN=${denort}: ${(e as Error).message}`);
      Deno.exit(2);
    }
    console.error(`compile: using denort from DENORT_BIN=${denort}`);
  }
  if ((options.profile ?? "full") === "full") {
    try {
      const names = await buildEmbeddedObjects();
      console.error(`compile: prebuilt CO-RE objects in ${OBJECTS_DIR}: ${names.join(", ")}`);
    } catch (e) {
      console.error(
        `compile: building the ring-buffer probes failed (needs clang, bpftool and /sys/kernel/btf/vmlinux; ` +
          `or build --profile bpftrace): ${(e as Error).message}`,
      );
      Deno.exit(2);
    }
  }
  console.error(`compile: deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), { args, cwd: root }).spawn().status;
  if (code !== 0 && !denort) {
    console.error(
      "compile: if denort could not be downloaded (offline), set DENORT_BIN to a denort binary of this Deno " +
        `version (${Deno.version.deno}), or build on a connected machine: see docs/deploy.md`,
    );
  }
  Deno.exit(code);
}
