/**
 * Whether an output is failing right now, and the exit rule built on it: a
 * run that lost spans because its output failed, and whose output is still
 * failing at exit (unreachable, rejecting, unwritable), exits with
 * {@linkcode EXIT_EXPORT_FAILED} instead of 0. An output that failed and
 * recovered is healthy again; what it dropped meanwhile stays counted in the
 * summary.
 * @module
 */
import type { CountersSnapshot } from "../telemetry/counters.ts";
import type { LogFields, Logger } from "../telemetry/log.ts";

/** The exit code of a run that lost spans to an output that is still failing (see `spanprobe --help`). */
export const EXIT_EXPORT_FAILED = 3;

/** The health of one output: the last delivery's outcome. */
export interface ExportHealth {
  /** A delivery succeeded: the output works (again). */
  ok(): void;
  /** A delivery failed; `why` says how (no secrets: it is logged). */
  failed(why: string): void;
  /** Why the output is failing now, or `undefined` when its last delivery worked (or none was tried). */
  readonly failure: string | undefined;
}

/** A fresh health tracker (healthy until a delivery fails). */
export function createExportHealth(): ExportHealth {
  let failure: string | undefined;
  return {
    ok() {
      failure = undefined;
    },
    failed(why) {
      failure = why;
    },
    get failure() {
      return failure;
    },
  };
}

/** Drop reasons that mean an output failed to take spans (not a source's loss). */
export function isExportDropReason(reason: string): boolean {
  return reason.startsWith("export_") || reason.startsWith("spool_");
}

/** Spans dropped because an output failed, from one snapshot. */
export function exportDrops(s: CountersSnapshot): number {
  let n = 0;
  for (const [reason, count] of Object.entries(s.dropped)) if (isExportDropReason(reason)) n += count;
  return n;
}

/**
 * Logs a destination's refusal of a batch (`name`: "OTLP"): an error once
 * per status, with the status and the destination's message; debug after that.
 */
export function createRefusalLog(
  logger: Logger,
  name = "OTLP",
): (fields: { status: number; message?: string } & LogFields) => void {
  const seen = new Set<number>();
  return (fields) => {
    if (seen.has(fields.status)) {
      logger.debug(`${name} export failed: the endpoint refused a batch; spans dropped`, fields);
      return;
    }
    seen.add(fields.status);
    logger.error(
      `${name} export failed: the endpoint refused a batch (not retryable); spans dropped; ` +
        "check the endpoint, headers and credentials",
      fields,
    );
  };
}
