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
  "SPANPROBE_LIBBPF",
  // the http probe's port selection (OBI's name, for users switching over)
  "OTEL_EBPF_OPEN_PORT",
  "BPFTRACE_PERF_RB_PAGES",
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
  /** Folders and files of probes and config (read only). */
  read: string[];
  /** Output files and the spool folder (the only writable paths). */
  write?: string[];
  /** The bpftrace executable (name on PATH or absolute path). */
  bpftrace?: string;
  /**
   * Hosts the agent may reach (`host:port`), `"any"` (any host except
   * {@linkcode DENIED_NET}: for a collector known only at deploy time), or
   * none at all when omitted or empty (console and file output need no network).
   */
  net?: string[] | "any";
  /** The ring-buffer source is used: allow FFI (see docs/permissions.md for why unscoped). */
  ffi?: boolean;
  /** Where ring-buffer probe objects are built/cached (read+write). */
  cacheDir?: string;
  /** The export spool folder (`--spool-dir`; read+write). */
  spoolDir?: string;
  /** The Prometheus metrics port (`--metrics-port`): listen on 127.0.0.1 only. */
  metricsPort?: number;
}

/** The `deno run` / `deno compile` permission flags for `o`. */
export function permissionFlags(o: PermissionOptions): string[] {
  const read = [...o.read, ...KERNEL_READ];
  const write = [...(o.write ?? [])];
  if (o.cacheDir) {
    read.push(o.cacheDir);
    write.push(o.cacheDir);
  }
  if (o.spoolDir) {
    read.push(o.spoolDir);
    write.push(o.spoolDir);
  }
  const net = o.net === "any" ? "any" : [...(o.net ?? [])];
  if (o.metricsPort !== undefined && net !== "any") net.push(`127.0.0.1:${o.metricsPort}`);
  const flags = [
    "--no-prompt",
    `--allow-run=${o.bpftrace ?? "bpftrace"}`,
    `--allow-read=${read.join(",")}`,
    `--allow-env=${ENV_VARS.join(",")}`,
    "--allow-sys=hostname",
  ];
  if (write.length) flags.push(`--allow-write=${write.join(",")}`);
  if (net === "any") flags.push("--allow-net", `--deny-net=${DENIED_NET.join(",")}`);
  else if (net.length) flags.push(`--allow-net=${net.join(",")}`);
  if (o.ffi) {
    // clang and bpftool build probe objects from source at start-up
    flags[1] = `--allow-run=${o.bpftrace ?? "bpftrace"},clang,bpftool`;
    flags.push("--allow-ffi");
  }
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
 * compile`, the Dockerfile): bpftrace only, no FFI, read the config, targets
 * and state folders, write only the state folder.
 */
export function deployPermissions(o: DeployOptions = {}): PermissionOptions {
  const p = { ...DEPLOY_PATHS, ...o.paths };
  return {
    read: [p.config, p.targets, p.state, ...(o.extraRead ?? [])],
    write: [p.state],
    bpftrace: p.bpftrace,
    net: o.net?.length ? o.net : "any",
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
