/**
 * `deno task compile`: builds dist/spanprobe, a single executable with the
 * deploy permission set of lib/permissions.ts baked in (bpftrace only, no
 * FFI, read /etc/spanprobe, /targets and /var/lib/spanprobe, write only
 * /var/lib/spanprobe, any host but the cloud metadata addresses unless
 * narrowed) and the bundled probes embedded with `--include probes/`.
 *
 *   deno task compile [--output PATH] [--target TRIPLE] [--allow-net HOST:PORT,...] [--print]
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

const root = fileURLToPath(new URL("../", import.meta.url));

/** Options of {@linkcode compileArgs}. */
export interface CompileOptions {
  /** Default `dist/spanprobe`. */
  output?: string;
  /** `deno compile --target` (Linux glibc targets only: bpftrace is Linux-only). */
  target?: string;
  /** Narrow the network to these `host:port` (default: any host except the metadata addresses). */
  net?: string[];
}

/** The permission flags baked into the binary: exactly lib/permissions.ts's deploy set. */
export function compilePermissionFlags(o: CompileOptions = {}): string[] {
  return permissionFlags(deployPermissions({ net: o.net }));
}

/** The `deno` argv that builds the binary (run from the repository root). */
export function compileArgs(o: CompileOptions = {}): string[] {
  return [
    "compile",
    "--frozen",
    ...compilePermissionFlags(o),
    "--include",
    "probes/",
    ...(o.target ? ["--target", o.target] : []),
    "--output",
    o.output ?? "dist/spanprobe",
    "main.ts",
  ];
}

/**
 * The same permission set for `deno run` from a checkout, where nothing is
 * embedded: the repository's probes/ stands in for the binary's embedded
 * copy (which Deno makes readable by itself). CI runs the agent with these
 * because it cannot download denort.
 */
export function deployRunFlags(o: CompileOptions = {}): string[] {
  return permissionFlags(deployPermissions({ net: o.net, extraRead: [`${root}probes`] }));
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
      print: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.target && !SUPPORTED_TARGETS.includes(values.target)) {
    throw new Error(`--target ${values.target}: spanprobe runs on Linux glibc only (${SUPPORTED_TARGETS.join(", ")})`);
  }
  const netText = values["allow-net"] ?? env("SPANPROBE_ALLOW_NET") ?? "";
  const net = parseNetList(netText);
  return { output: values.output, target: values.target, net: net.length ? net : undefined, print: !!values.print };
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
