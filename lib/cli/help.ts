/**
 * Help texts of the command line.
 * @module
 */

/** `spanprobe --help`. */
export const MAIN_HELP = `spanprobe — eBPF events to OpenTelemetry traces

Usage:
  spanprobe run    [options]   attach probes and export spans
  spanprobe check  [options]   validate config and probe specs; attach nothing
  spanprobe probes             list bundled probes
  spanprobe gotrace FILE...    convert Go execution traces (runtime/trace) to spans
  spanprobe --version

Run 'spanprobe <command> --help' for a command's options.
Exit codes: 0 success, 1 runtime failure, 2 usage or config error,
  3 spans were lost because an output failed and was still failing at exit
    (collector unreachable or refusing, e.g. 401; file not writable).
`;

/** `spanprobe run --help`. */
export const RUN_HELP = `Usage: spanprobe run [options]

Probes:
  -p, --probe NAME|PATH     bundled probe name or path to its .yaml (repeatable)
      --param NAME=VALUE    a probe parameter (repeatable; PROBE.NAME=VALUE for one probe)
      --binary PATH         shorthand for --param binary=PATH
      --pid PID             trace this process (bpftrace -p; --probe go: this Go process)
      --open-port PORTS     http probe: trace processes serving these ports, e.g.
                            5000,8000-8999 (repeatable; env OTEL_EBPF_OPEN_PORT)
      --exe GLOB            http probe: trace processes whose executable path matches,
                            also ones started later, e.g. '*/gunicorn' (repeatable;
                            env OTEL_EBPF_AUTO_TARGET_EXE)
                            --probe go: the Go executable (one absolute path): trace
                            every process running it
      --command CMD         start CMD once probes are attached; stop when it exits
  -c, --config FILE         YAML config (see docs/configuration.md)
      --bpftrace PATH       bpftrace executable (default: bpftrace on PATH)
      --cache-dir DIR       where ring-buffer probe objects are built (default:
                            $SPANPROBE_CACHE_DIR, $XDG_CACHE_HOME/spanprobe, ~/.cache/spanprobe)

Go execution traces (see docs/gotrace.md; combinable with probes):
      --gotrace-dir DIR     convert each .trace file written to DIR once
      --state-dir DIR       writable folder remembering converted files (default: --spool-dir)
      --gotrace-frames N    stack frames per span (default 10; 0: none)
      --gotrace-goroutine-events  goroutine state changes as span events (default off)

Export (default: readable lines on stdout when no endpoint is set):
  -o, --output KIND         console | otlp | file:PATH (repeatable)
      --endpoint URL        OTLP/HTTP endpoint (base URL; /v1/traces is added)
      --protocol P          http/protobuf (default) | http/json
      --compression C       gzip | none
      --header NAME=VALUE   extra HTTP header (repeatable)
      --service-name NAME   service.name (default: the traced executable)
  Standard OTEL_EXPORTER_OTLP_* , OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply.

Reliability (see docs/reliability.md):
      --queue-spans N       spans held in memory for export at most (default 500000)
      --queue-bytes SIZE    encoded bytes held in memory at most (default 64MiB);
                            past either bound the newest spans are dropped and counted
      --spool-dir DIR       keep batches the collector does not take in DIR: they
                            survive a restart and are sent when it answers again
      --spool-max-bytes SIZE  spool size cap (default 256MiB)
      --metrics-port PORT   serve Prometheus metrics on http://127.0.0.1:PORT/metrics

Span metrics (request rate, errors, durations from every span; see docs/metrics.md):
      --metrics M           off | otlp | prometheus | both (default: both with an OTLP
                            output, prometheus otherwise); OTLP to /v1/metrics every
                            OTEL_METRIC_EXPORT_INTERVAL ms (default 60000), cumulative
                            unless OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta;
                            Prometheus on the --metrics-port endpoint

Lifecycle and logs:
      --duration SECONDS    stop after this long
      --flush-timeout MS    flush deadline on SIGTERM/SIGINT, from the signal (default 5000)
      --stats-interval S    log a stats line every S seconds (default 0: off)
      --log-format F        human (default) | json
      --log-level L         debug | info (default) | warn | error
  -h, --help

Exit codes: 0 success, 1 runtime failure, 2 usage or config error (before
anything is attached), 3 spans lost to an output still failing at exit.
`;

/** `spanprobe check --help`. */
export const CHECK_HELP = `Usage: spanprobe check [options]

Validates, without attaching anything and without the target, what 'run'
would reject: the config file, probe specs (YAML, events, spans, templates,
clocks), ring-buffer configs, scripts present, every {{param}} a script uses
declared, and the parameter values given. With bpftrace installed, also
bpftrace's own parse of each script (bpftrace -d). Required parameters not
given (e.g. --binary) are reported as not checked here. Errors name file and
line; exit 2 on the first one.

  -p, --probe NAME|PATH     probe to check (repeatable; default: all bundled)
      --param NAME=VALUE    parameters to validate too (repeatable)
      --binary PATH         shorthand for --param binary=PATH
  -c, --config FILE         config file to check
      --cache-dir DIR       where ring-buffer probe objects are built

Ring-buffer probes are compiled (when clang is installed) and their objects
opened without loading: compile errors, missing ring buffers and labels that
do not fit the record are reported here.
  -h, --help
`;

/** `spanprobe probes --help`. */
export const PROBES_HELP = `Usage: spanprobe probes

Lists the bundled probes with their kind and parameters.
`;

/** `spanprobe gotrace --help`. */
export const GOTRACE_HELP = `Usage: spanprobe gotrace [options] FILE...

Converts Go execution traces (runtime/trace output, trace.FlightRecorder
snapshots; Go 1.22 to 1.26) to spans: tasks, regions, logs, GC and
stop-the-world ranges (see docs/gotrace.md). Exit codes: 0 success, 1 a file
cannot be parsed, 2 usage error, 3 spans lost to an output still failing.

  -o, --output KIND         console | otlp | file:PATH (repeatable; default: console
                            unless an endpoint is set)
      --endpoint URL        OTLP/HTTP endpoint (base URL; /v1/traces is added)
      --protocol P          http/protobuf (default) | http/json
      --compression C       gzip | none
      --header NAME=VALUE   extra HTTP header (repeatable)
      --service-name NAME   service.name (default: OTEL_SERVICE_NAME, else go-trace)
      --anchor TIME         wall-clock time of the trace's last event, for traces
                            before Go 1.25 (Unix ns or RFC 3339; default: file mtime)
      --gotrace-frames N    stack frames per span (default 10; 0: none)
      --gotrace-goroutine-events  goroutine state changes as span events
      --flush-timeout MS    export deadline at the end (default 5000)
      --log-format F        human (default) | json
      --log-level L         debug | info (default) | warn | error
  -h, --help
`;
