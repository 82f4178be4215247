/**
 * The agent's Deno permission set: the one source of truth used by
 * `deno task start` (scripts/launch.ts), `deno task compile`, the tests and
 * the Dockerfile. See docs/permissions.md.
 * @module
 */

/** Environment variables the agent reads (and nothing else). */
export const ENV_VARS: readonly string[] = [
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
  "OTEL_EXPORTER_OTLP_COMPRESSION",
  "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
  "OTEL_EXPORTER_OTLP_TIMEOUT",
  "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
  // span metrics over OTLP (docs/metrics.md)
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
  "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
  "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
  "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
  "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
  "OTEL_METRIC_EXPORT_INTERVAL",
  "SPANPROBE_LIBBPF",
  // the http probe's port selection (OBI's name, for users switching over)
  "OTEL_EBPF_OPEN_PORT",
  "OTEL_EBPF_AUTO_TARGET_EXE",
  // the ring-buffer build cache (lib/sources/ringbuf/cache_dir.ts); HOME stays refused
  "SPANPROBE_CACHE_DIR",
  "XDG_CACHE_HOME",
  // set by scripts/launch.ts: stdin is its pipe, end-of-file means it died (lib/agent/parent_watch.ts)
  "SPANPROBE_WATCH_STDIN",
  // what scripts/launch.ts hands the agent in place of --header / --endpoint (secrets stay off argv)
  "SPANPROBE_HEADERS",
  "SPANPROBE_ENDPOINT",
  // passed on to bpftrace, which gets nothing else of the agent's environment (BPFTRACE_ENV_VARS
  // in lib/sources/bpftrace/process.ts; tests/cli_secrets_test.ts checks the two lists agree)
  "PATH",
  "LANG",
  "LC_ALL",
  "TZ",
  "BPFTRACE_PERF_RB_PAGES",
  "BPFTRACE_STRLEN",
  "BPFTRACE_MAP_KEYS_MAX",
  "BPFTRACE_CAT_BYTES_MAX",
  "BPFTRACE_MAX_PROBES",
  "BPFTRACE_MAX_BPF_PROGS",
  "BPFTRACE_LOG_SIZE",
  "BPFTRACE_NO_USER_SYMBOLS",
  "BPFTRACE_CACHE_USER_SYMBOLS",
  "BPFTRACE_NO_CPP_DEMANGLE",
  "BPFTRACE_VMLINUX",
  "BPFTRACE_BTF",
  // read by the `yaml` package's parser (its debug switches)
  "LOG_TOKENS",
  "LOG_STREAM",
];

/**
 * Addresses the agent may never reach, whatever the collector: cloud instance
 * metadata services (credential theft is the classic SSRF target).
 */
export const DENIED_NET: readonly string[] = [
  "169.254.169.254",
  "169.254.170.2",
  "[fd00:ec2::254]", // IPv6 in brackets: Deno rejects the whole flag otherwise
  "100.100.100.200",
  "metadata.google.internal",
];

/**
 * System files that decoders read and a scoped --allow-read can grant. Not
 * listed because no scoped grant reaches them: Deno 2.9 refuses every path
 * under /proc, /sys and most of /dev unless --allow-all, whatever --allow-read
 * says (measured; see docs/permissions.md). Facts from there (kallsyms,
 * cgroup and interface names, BTF) must come from the probes or from
 * subprocesses (bpftrace, bpftool), not from the agent's own reads.
 */
export const KERNEL_READ: readonly string[] = [
  "/usr/share/misc/pci.ids",
];

/** What one agent deployment needs. */
export interface PermissionOptions {
  /** Folders and files of probes and config (read only); a {@linkcode GrantPath} names its option in errors. */
  read: (string | GrantPath)[];
  /** Output files and the spool folder (the only writable paths). */
  write?: (string | GrantPath)[];
  /** The bpftrace executable (name on PATH or absolute path). */
  bpftrace?: string;
  /**
   * Hosts the agent may reach (`host:port`), `"any"` (any host except
   * {@linkcode DENIED_NET}: for a collector known only at deploy time), or
   * none at all when omitted or empty (console and file output need no network).
   */
  net?: string[] | "any";
  /**
   * Other programs the agent starts itself: `--command`'s program for
   * ring-buffer probes (bpftrace starts it for bpftrace probes).
   */
  run?: string[];
  /** The ring-buffer source is used: allow FFI (see docs/permissions.md for why unscoped). */
  ffi?: boolean;
  /**
   * With `ffi`: the build tools of `.bpf.c` probes (default `clang`, `bpftool`
   * by name; the deploy set has none: it loads prebuilt objects only).
   */
  buildTools?: string[];
  /** Where ring-buffer probe objects are built/cached (read+write). */
  cacheDir?: string;
  /** The export spool folder (`--spool-dir`; read+write). */
  spoolDir?: string;
  /** The Prometheus metrics port (`--metrics-port`): listen on 127.0.0.1 only. */
  metricsPort?: number;
  /** The watched folder of Go execution traces (`--gotrace-dir`): read only. */
  gotraceDir?: string;
  /** Folder of source state (`--state-dir`, e.g. converted trace files): read+write. */
  stateDir?: string;
}

/**
 * A value that must not become part of a permission flag. The message names
 * the value, what it was given as, and what to pass instead.
 */
export class GrantValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GrantValueError";
  }
}

/** A path value and where it came from (`--spool-dir`, `--param binary`, ...), for error messages. */
export interface GrantPath {
  /** The path as given (relative paths are taken from `cwd`). */
  path: string;
  /** What the user wrote it as, e.g. `--spool-dir`. */
  what: string;
}

function describe(value: string, what: string): string {
  return `${what} ${JSON.stringify(value)}`;
}

function checkListItem(value: string, what: string): void {
  if (value === "") throw new GrantValueError(`${what}: empty value`);
  if (value.includes(",")) {
    throw new GrantValueError(
      `${
        describe(value, what)
      }: a "," would add another entry to the permission list; rename the path or pass one value per option`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new GrantValueError(`${describe(value, what)}: control characters are not allowed`);
  }
}

/** The real path of `path`'s deepest existing ancestor plus the rest, or undefined when that is `path` unchanged. */
function realPathOf(path: string, realPath: (p: string) => string): string {
  const parts = path.split("/").slice(1);
  for (let n = parts.length; n >= 0; n--) {
    const head = "/" + parts.slice(0, n).join("/");
    let real: string;
    try {
      real = realPath(head);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) continue;
      throw e;
    }
    const rest = parts.slice(n).join("/");
    return rest ? (real === "/" ? `/${rest}` : `${real}/${rest}`) : real;
  }
  return path;
}

/**
 * Validates a path before it becomes part of `--allow-read`/`--allow-write`
 * (the ONE place for this; see docs/permissions.md): no `,` (Deno splits the
 * list on it: `/tmp/x,/` would grant `/`), no control characters, absolute
 * (a relative one is resolved from `cwd`), normalised (no `.`, `..`, `//` or
 * trailing `/` in an absolute one), not `/` itself, and its own real path — no symbolic link on
 * the way, because Deno checks paths as written and a link inside a granted
 * folder reaches wherever it points. A path that does not exist yet (an
 * output file, a spool folder) is checked up to its deepest existing
 * ancestor. Returns the absolute path; throws {@linkcode GrantValueError}.
 */
export function grantPath(
  value: string,
  what: string,
  cwd: string = Deno.cwd(),
  realPath: (p: string) => string = Deno.realPathSync,
): string {
  checkListItem(value, what);
  // a relative path is resolved like the agent resolves it (node:path resolve)
  const path = value.startsWith("/") ? value : normalise(`${cwd}/${value}`);
  if (!path.startsWith("/")) throw new GrantValueError(`${describe(value, what)}: expected an absolute path`);
  if (path === "/") throw new GrantValueError(`${describe(value, what)}: would grant the whole file system`);
  const segments = path.split("/").slice(1);
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw new GrantValueError(
      `${describe(value, what)}: not a normalised path (no ".", "..", "//" or trailing "/"); write it as ${
        JSON.stringify(normalise(path))
      }`,
    );
  }
  const real = realPathOf(path, realPath);
  if (real !== path) {
    throw new GrantValueError(
      `${describe(value, what)}: ${path} goes through a symbolic link; pass its real path ${real}`,
    );
  }
  return path;
}

function normalise(path: string): string {
  const out: string[] = [];
  for (const s of path.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") out.pop();
    else out.push(s);
  }
  return "/" + out.join("/");
}

/**
 * Validates the program for `--allow-run`: a bare name looked up on `PATH`
 * (letters, digits, `.`, `_`, `+`, `-`) or a path that passes
 * {@linkcode grantPath}. Throws {@linkcode GrantValueError}.
 */
export function grantProgram(value: string, what: string, cwd: string = Deno.cwd()): string {
  checkListItem(value, what);
  if (value.includes("/")) return grantPath(value, what, cwd);
  if (!/^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/.test(value)) {
    throw new GrantValueError(`${describe(value, what)}: expected a program name or an absolute path`);
  }
  return value;
}

/** Validates a `host:port` for `--allow-net` (IPv6 in brackets). Throws {@linkcode GrantValueError}. */
export function grantHost(value: string, what: string): string {
  checkListItem(value, what);
  if (
    !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value) ||
    Number(value.slice(value.lastIndexOf(":") + 1)) > 65535
  ) {
    throw new GrantValueError(`${describe(value, what)}: expected host:port (IPv6 as [addr]:port)`);
  }
  return value;
}

/** How {@linkcode permissionFlags} checks paths (tests and deploy builds, where the paths are not on this machine). */
export interface FlagOptions {
  /** Relative paths are taken from here (default: the current directory). */
  cwd?: string;
  /** Resolves a path's real path (default `Deno.realPathSync`). */
  realPath?: (p: string) => string;
}

/**
 * The `deno run` / `deno compile` permission flags for `o`. Every path,
 * program and host goes through {@linkcode grantPath},
 * {@linkcode grantProgram} or {@linkcode grantHost} first; a value that fails
 * throws {@linkcode GrantValueError} and no flag is produced.
 */
export function permissionFlags(o: PermissionOptions, f: FlagOptions = {}): string[] {
  const cwd = f.cwd ?? Deno.cwd();
  const path = (p: string | GrantPath, what: string) =>
    typeof p === "string" ? grantPath(p, what, cwd, f.realPath) : grantPath(p.path, p.what, cwd, f.realPath);
  const read = [...o.read.map((p) => path(p, "a readable path")), ...KERNEL_READ];
  const write = (o.write ?? []).map((p) => path(p, "a writable path"));
  if (o.cacheDir) {
    const dir = path(o.cacheDir, "the build cache folder");
    read.push(dir);
    write.push(dir);
  }
  if (o.spoolDir) {
    const dir = path(o.spoolDir, "--spool-dir");
    read.push(dir);
    write.push(dir);
  }
  const net = o.net === "any" ? "any" : (o.net ?? []).map((h) => grantHost(h, "the collector endpoint"));
  if (o.metricsPort !== undefined) {
    if (!Number.isInteger(o.metricsPort) || o.metricsPort < 0 || o.metricsPort > 65535) {
      throw new GrantValueError(`--metrics-port ${o.metricsPort}: expected a port number`);
    }
    if (net !== "any") net.push(`127.0.0.1:${o.metricsPort}`);
  }
  const bpftrace = grantProgram(o.bpftrace ?? "bpftrace", "--bpftrace", cwd);
  if (o.gotraceDir) read.push(path(o.gotraceDir, "--gotrace-dir"));
  if (o.stateDir) {
    const dir = path(o.stateDir, "--state-dir");
    read.push(dir);
    write.push(dir);
  }
  const flags = [
    "--no-prompt",
    `--allow-run=${bpftrace}`,
    `--allow-read=${read.join(",")}`,
    `--allow-env=${ENV_VARS.join(",")}`,
    "--allow-sys=hostname",
  ];
  if (write.length) flags.push(`--allow-write=${write.join(",")}`);
  if (net === "any") flags.push("--allow-net", `--deny-net=${DENIED_NET.join(",")}`);
  else if (net.length) flags.push(`--allow-net=${net.join(",")}`);
  if (o.ffi) {
    // clang and bpftool build probe objects from source at start-up
    const tools = (o.buildTools ?? ["clang", "bpftool"]).map((t) => grantProgram(t, "a BPF build tool", cwd));
    flags[1] = `--allow-run=${[bpftrace, ...tools].join(",")}`;
    flags.push("--allow-ffi");
  }
  for (const program of o.run ?? []) flags[1] += `,${grantProgram(program, "--command's program", cwd)}`;
  return flags;
}

/**
 * Where the compiled binary and the container image expect their files; the
 * manifests in deploy/ mount exactly these. The bundled probes are embedded
 * in the binary (`deno compile --include probes/`) and readable without a
 * grant: Deno adds its embedded file system to --allow-read itself.
 */
export const DEPLOY_PATHS = {
  /** The config file (`config.yaml`) and custom probe specs: read only. */
  config: "/etc/spanprobe",
  /**
   * Executables and libraries to trace, mounted read-only (host folders in
   * the DaemonSet, a volume shared with the app in the sidecar): `path`
   * parameters such as `binary` must name a file under here.
   */
  targets: "/targets",
  /** The one writable folder: spool and file outputs. */
  state: "/var/lib/spanprobe",
  /** bpftrace in the image. */
  bpftrace: "/usr/bin/bpftrace",
} as const;

/** Deploy-time choices for {@linkcode deployPermissions}. */
export interface DeployOptions {
  /**
   * `host:port` entries the agent may reach. Default (omitted or empty): any
   * host except {@linkcode DENIED_NET}, because the collector is only known
   * at deploy time; build with `SPANPROBE_ALLOW_NET=collector:4318` to narrow.
   */
  net?: string[];
  /**
   * Bake in FFI for the ring-buffer source (default true; false builds the
   * narrower bpftrace-only binary: `deno task compile --profile bpftrace`).
   * See docs/permissions.md for what each costs.
   */
  ffi?: boolean;
  /** Other locations than {@linkcode DEPLOY_PATHS} (tests, other layouts). */
  paths?: Partial<Record<keyof typeof DEPLOY_PATHS, string>>;
  /**
   * Extra readable paths. `deno run` has no embedded file system, so running
   * the deploy set from a checkout passes the repository's probes/ here.
   */
  extraRead?: string[];
}

/**
 * The fixed permission set baked into the compiled binary (`deno task
 * compile`, the Dockerfile): run bpftrace only (ring-buffer probes load
 * prebuilt objects: no compiler), FFI for the ring-buffer source unless
 * `ffi: false`, read the config, targets and state folders, write only the
 * state folder.
 */
export function deployPermissions(o: DeployOptions = {}): PermissionOptions {
  const p = { ...DEPLOY_PATHS, ...o.paths };
  return {
    read: [p.config, p.targets, p.state, ...(o.extraRead ?? [])],
    write: [p.state],
    bpftrace: p.bpftrace,
    net: o.net?.length ? o.net : "any",
    ffi: o.ffi ?? true,
    // prebuilt objects only (embedded, or NAME.bpf.o beside NAME.yaml): no compiler is run
    buildTools: [],
  };
}

/**
 * Parses a `SPANPROBE_ALLOW_NET` value: comma-separated `host:port` (IPv6 in
 * brackets). Throws on anything else, so a typo cannot widen the set.
 */
export function parseNetList(text: string): string[] {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  for (const item of items) {
    if (
      !/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(item) ||
      Number(item.slice(item.lastIndexOf(":") + 1)) > 65535
    ) {
      throw new Error(`allowed network entry ${JSON.stringify(item)}: expected host:port (IPv6 as [addr]:port)`);
    }
  }
  return items;
}
