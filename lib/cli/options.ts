/**
 * The command-line option tables (for node:util parseArgs), shared by the CLI
 * and the launcher that derives the permission set from them.
 * @module
 */

/** Options of `spanprobe run`. */
export const RUN_OPTIONS = {
  probe: { type: "string", short: "p", multiple: true },
  param: { type: "string", multiple: true },
  binary: { type: "string" },
  pid: { type: "string" },
  "open-port": { type: "string", multiple: true },
  exe: { type: "string", multiple: true },
  command: { type: "string" },
  config: { type: "string", short: "c" },
  bpftrace: { type: "string" },
  "cache-dir": { type: "string" },
  output: { type: "string", short: "o", multiple: true },
  endpoint: { type: "string" },
  protocol: { type: "string" },
  compression: { type: "string" },
  header: { type: "string", multiple: true },
  "service-name": { type: "string" },
  "queue-spans": { type: "string" },
  "queue-bytes": { type: "string" },
  "spool-dir": { type: "string" },
  "spool-max-bytes": { type: "string" },
  "metrics-port": { type: "string" },
  metrics: { type: "string" },
  duration: { type: "string" },
  "flush-timeout": { type: "string" },
  "stats-interval": { type: "string" },
  "log-format": { type: "string" },
  "log-level": { type: "string" },
  "gotrace-dir": { type: "string" },
  "state-dir": { type: "string" },
  "gotrace-frames": { type: "string" },
  "gotrace-goroutine-events": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Options of `spanprobe gotrace FILE…`. */
export const GOTRACE_OPTIONS = {
  output: RUN_OPTIONS.output,
  endpoint: RUN_OPTIONS.endpoint,
  protocol: RUN_OPTIONS.protocol,
  compression: RUN_OPTIONS.compression,
  header: RUN_OPTIONS.header,
  "service-name": RUN_OPTIONS["service-name"],
  anchor: { type: "string" },
  "gotrace-frames": RUN_OPTIONS["gotrace-frames"],
  "gotrace-goroutine-events": RUN_OPTIONS["gotrace-goroutine-events"],
  "flush-timeout": RUN_OPTIONS["flush-timeout"],
  "log-format": RUN_OPTIONS["log-format"],
  "log-level": RUN_OPTIONS["log-level"],
  help: RUN_OPTIONS.help,
} as const;

/** Options of `spanprobe check`. */
export const CHECK_OPTIONS = {
  probe: RUN_OPTIONS.probe,
  param: RUN_OPTIONS.param,
  binary: RUN_OPTIONS.binary,
  config: RUN_OPTIONS.config,
  "cache-dir": RUN_OPTIONS["cache-dir"],
  help: RUN_OPTIONS.help,
} as const;
