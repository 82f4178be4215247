/**
 * One trace file on disk to spans: reads it, picks the wall-clock anchor
 * (the file's mtime unless the user gave `--anchor`) and names the file in
 * errors.
 * @module
 */
import type { Attributes, SpanData } from "../../core/span_data.ts";
import type { Counters } from "../../telemetry/counters.ts";
import type { Logger } from "../../telemetry/log.ts";
import { readGenerations, type Truncation } from "./generations.ts";
import { readHeader } from "./header.ts";
import { GoTraceError } from "./parse_error.ts";
import { type GoTraceSummary, parseGoTraceAsync } from "./parse_trace.ts";

/** How to map a file (shared by the one-shot command and the directory source). */
export interface TraceFileOptions {
  /** Resource attributes; `service.name` should be set. */
  resourceAttributes: Attributes;
  /** Wall-clock Unix ns of the last event (`--anchor`); default: the file's mtime. */
  anchorNs?: bigint;
  /** Stack frames per span (default 10). */
  frames?: number;
  /** Goroutine state changes as span events (default off). */
  goroutineStates?: boolean;
  /** Runtime ranges as spans (default on). */
  ranges?: boolean;
}

/**
 * Parses an `--anchor` value: Unix nanoseconds (digits) or an RFC 3339 time
 * with up to 9 fractional digits (`2025-03-01T12:00:00.123456789Z`). Throws
 * an Error saying what is expected.
 */
export function parseAnchor(text: string): bigint {
  if (/^\d{1,20}$/.test(text)) return BigInt(text);
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || Number.isNaN(ms)) {
    throw new Error(
      `--anchor ${text}: expected Unix nanoseconds or an RFC 3339 time such as 2025-03-01T12:00:00.000000001Z`,
    );
  }
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

/** Whether a trace's bytes end cut short (the writer may still be writing); undefined when complete. */
export function traceTail(bytes: Uint8Array): Truncation | undefined {
  const version = readHeader(bytes);
  const r = readGenerations(bytes, version);
  for (const _ of r.generations()) { /* structure only */ }
  return r.truncation;
}

/** The wall-clock anchor of a file: its mtime in Unix ns. */
export function mtimeNs(info: Deno.FileInfo): bigint {
  return BigInt(Math.round((info.mtime?.getTime() ?? Date.now()) * 1000)) * 1000n;
}

/**
 * Converts a trace file; spans go to `onSpans` as they complete. Throws
 * {@linkcode GoTraceError} naming the file when it cannot be parsed.
 */
export async function convertTraceFile(
  path: string,
  o: TraceFileOptions,
  onSpans: (spans: SpanData[]) => void,
): Promise<GoTraceSummary> {
  const [bytes, info] = await Promise.all([Deno.readFile(path), Deno.stat(path)]);
  return await convertTraceBytes(path, bytes, info, o, onSpans);
}

/** {@linkcode convertTraceFile} for bytes already read (`info`: the file's stat); yields to the event loop between generations. */
export async function convertTraceBytes(
  path: string,
  bytes: Uint8Array,
  info: Deno.FileInfo,
  o: TraceFileOptions,
  onSpans: (spans: SpanData[]) => void,
): Promise<GoTraceSummary> {
  try {
    return await parseGoTraceAsync(bytes, {
      resourceAttributes: o.resourceAttributes,
      anchorNs: o.anchorNs ?? mtimeNs(info),
      anchorSource: o.anchorNs !== undefined ? "anchor" : "file_mtime",
      frames: o.frames,
      goroutineStates: o.goroutineStates,
      ranges: o.ranges,
      onSpans,
    });
  } catch (e) {
    if (e instanceof GoTraceError) throw new GoTraceError(`${path}: ${e.message}`);
    throw e;
  }
}

/**
 * Counts a converted file (`gotrace_files`, and `gotrace_files_truncated`
 * when it ended cut short, with a warning) and logs what it held; `prefix`
 * starts each message.
 */
export function reportConverted(
  path: string,
  summary: GoTraceSummary,
  counters: Counters,
  logger: Logger,
  prefix = "",
): void {
  counters.inc("gotrace_files");
  if (summary.truncation) {
    counters.inc("gotrace_files_truncated");
    logger.warn(`${prefix}trace cut short; converted what is complete`, {
      file: path,
      reason: summary.truncation.reason,
      bytesUnused: summary.truncation.bytes,
    });
  }
  logger.info(`${prefix}converted`, {
    file: path,
    version: `1.${summary.version}`,
    generations: summary.generations,
    events: summary.events,
    spans: summary.spans,
    clock: summary.clock,
  });
}
