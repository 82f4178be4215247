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
  "fd00:ec2::254",
  "100.100.100.200",
  "metadata.google.internal",
];

/** Kernel files that probes and decoders read. */
export const KERNEL_READ: readonly string[] = [
  "/proc",
  "/sys/kernel/btf",
  "/sys/kernel/tracing",
  "/sys/fs/cgroup",
  "/sys/class/net",
  "/sys/bus/pci",
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
