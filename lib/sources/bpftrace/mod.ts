/**
 * A bpftrace probe end to end: prepare the script, run bpftrace under
 * supervision, and turn its output into spans — bytes → lines → records →
 * events → spans, each stage a `TransformStream`.
 *
 * Supervision: when bpftrace dies (killed, crashed, non-zero exit) after it
 * had attached, a new bpftrace is started after a capped exponential backoff
 * (counted as `source_restarts`); the span builder is kept, so spans opened
 * before the crash can still end. Each process's stdout is split into lines
 * on its own, so a partial last line of a dead process is counted as a
 * parse error and never glued to the next process's first line. A clean
 * exit (code 0: the script called exit(), the `--pid` target ended, someone
 * sent bpftrace SIGTERM) ends the source; so does any exit with `--command`
 * (bpftrace owns that command: restarting would run it again).
 * @module
 */
import type { ProbeSpec } from "../../config/probe_spec.ts";
import { createClockOffsets } from "../../core/clock.ts";
import { createSpanBuilder, type SpanBuilder } from "../../spans/span_builder.ts";
import { spanBuilderStream } from "../../spans/span_builder_stream.ts";
import type { ResourceCache } from "../../spans/resources.ts";
import type { SpanData } from "../../core/span_data.ts";
import { type BpftraceRecord, bpftraceRecordParser } from "../../streams/bpftrace_records.ts";
import { type LineBatch, lineCount, lineSplitter } from "../../streams/lines.ts";
import type { FieldValue } from "../../core/fields.ts";
import { type ProbeEvent, probeEventMapper } from "../../streams/probe_events.ts";
import type { Counters } from "../../telemetry/counters.ts";
import type { Logger } from "../../telemetry/log.ts";
import { backoffDelayMs, sleep } from "../../core/backoff.ts";
import {
  type BpftraceProcess,
  DEFAULT_PERF_RB_PAGES,
  MIN_PERF_RB_PAGES,
  perfBufferRefused,
  spawnBpftrace,
  userPerfPages,
} from "./process.ts";
import { prepareScript, resolveParams } from "./script.ts";
import type { ProbeRun } from "../../core/probe_run.ts";
import { UserError } from "../../core/errors.ts";
import { fileInSpecFolder } from "../../config/spec_files.ts";

/**
 * The tuple name of the agent's heartbeat: printed every second so that a
 * bpftrace whose agent was killed (SIGKILL) gets EPIPE and exits instead of
 * tracing on, orphaned, until its next event.
 */
export const HEARTBEAT_EVENT = "__spanprobe_heartbeat";

/** The heartbeat probe appended to every script. */
export const HEARTBEAT_PROBE =
  `\n// added by spanprobe: a heartbeat, so bpftrace notices (EPIPE) when the agent is gone\ninterval:s:1 { print(("${HEARTBEAT_EVENT}", 0)); }\n`;

/** How a crashed bpftrace is restarted. */
export interface RestartPolicy {
  /** First delay before a restart (ms, before jitter); 500 by default. */
  initialMs?: number;
  /** Longest delay (ms); 30 000 by default. */
  maxMs?: number;
  /** Give up after this many restarts in a row that could not attach; 5 by default. */
  maxAttachFailures?: number;
  /** A run at least this long resets the delay to `initialMs` (ms); 60 000 by default. */
  stableMs?: number;
}

/** Options of {@linkcode openBpftraceProbe}. */
export interface BpftraceProbeOptions {
  spec: ProbeSpec;
  params: Record<string, string>;
  pid?: number;
  command?: string;
  bpftrace?: string;
  resources: ResourceCache;
  logger: Logger;
  counters: Counters;
  restart?: RestartPolicy;
  /** How long a stopping bpftrace gets after SIGTERM before SIGKILL (ms); 3000 by default. */
  stopGraceMs?: number;
  /** Stops a bpftrace that is still attaching (the agent was asked to stop during start-up). */
  abort?: AbortSignal;
}

type PipelineOptions = Pick<BpftraceProbeOptions, "spec" | "resources" | "logger" | "counters"> & {
  params?: Record<string, string>;
};

function overlongCounter(o: PipelineOptions): (len: number) => void {
  return (len) => {
    o.counters.inc("lines_in");
    o.counters.inc("parse_errors");
    o.logger.warnLimited("overlong", "dropped an overlong output line", { probe: o.spec.name, length: len });
  };
}

/** Everything from bytes to spans, for any byte source (bpftrace's stdout or a recording). */
export function bpftraceSpanPipeline(
  bytes: ReadableStream<Uint8Array>,
  o: PipelineOptions,
): ReadableStream<SpanData[]> {
  return linesSpanPipeline(bytes.pipeThrough(lineSplitter({ onOverlong: overlongCounter(o) })), o);
}

/**
 * Lines to spans. Every line is counted once (`lines_in`) and ends up as
 * exactly one of: `parse_errors`, `records_ignored` (a valid record that is
 * no event), `records_internal` (calibration, heartbeat, lost-event and
 * message records), `decode_errors` (an event that does not fit its
 * declared fields) or `events_in`.
 */
export function linesSpanPipeline(
  lines: ReadableStream<LineBatch>,
  o: PipelineOptions,
): ReadableStream<SpanData[]> {
  const { spec, logger, counters } = o;
  const clocks = createClockOffsets();
  let lastOpen = 0;
  const publishOpen = () => {
    const open = builder.openCount();
    if (open !== lastOpen) counters.gaugeAdd("open_spans", open - lastOpen);
    lastOpen = open;
  };
  const binary = o.params?.binary;
  const binaryHints = { executableName: binary?.replace(/^.*\//, ""), executablePath: binary };
  const resourceFor = (get: (n: string) => FieldValue | undefined) => {
    const pid = get("pid");
    const comm = get("comm");
    return o.resources.forPid(
      typeof pid === "number" ? pid : typeof pid === "bigint" ? Number(pid) : undefined,
      typeof comm === "string" ? { executableName: comm, executablePath: binary } : binaryHints,
    );
  };
  const builder = createSpanBuilder({
    spec,
    clocks,
    resourceFor,
    onSpanStarted: () => counters.inc("spans_started"),
    onIncomplete: (reason, span) => {
      counters.inc("spans_evicted");
      logger.warnLimited(`incomplete-${reason}`, "span ended by the agent", {
        probe: spec.name,
        reason,
        span: span.name,
      });
    },
    onOrphan: (event) => {
      counters.inc("end_without_start");
      logger.warnLimited("orphan", "event without a matching open span", {
        probe: spec.name,
        event,
      });
    },
  });
  // the open-span gauge follows every change
  const countedBuilder: SpanBuilder = {
    add(events) {
      const out = builder.add(events);
      publishOpen();
      return out;
    },
    sweep() {
      const out = builder.sweep();
      publishOpen();
      return out;
    },
    drain() {
      const out = builder.drain();
      publishOpen();
      return out;
    },
    discard() {
      const n = builder.discard();
      publishOpen();
      return n;
    },
    openCount: () => builder.openCount(),
  };
  const countLines = new TransformStream<LineBatch, LineBatch>({
    transform(batch, c) {
      counters.inc("lines_in", lineCount(batch));
      c.enqueue(batch);
    },
  });
  const classify = new TransformStream<BpftraceRecord[], BpftraceRecord[]>({
    transform(records, c) {
      const out: BpftraceRecord[] = [];
      let internal = 0;
      let ignored = 0;
      for (const r of records) {
        switch (r.type) {
          case "tuple":
            if (r.values[0] === HEARTBEAT_EVENT) internal++;
            else out.push(r); // events, calibration (counted when applied), unknown tuples
            break;
          case "lost_events":
          case "message":
          case "attached_probes":
            internal++;
            out.push(r);
            break;
          default:
            ignored++; // print() of a non-tuple, printf, maps and other output
        }
      }
      if (internal) counters.inc("records_internal", internal);
      if (ignored) {
        counters.inc("records_ignored", ignored);
        logger.warnLimited("non-event", "bpftrace output that is no event tuple was ignored", {
          probe: spec.name,
          records: ignored,
        });
      }
      if (out.length) c.enqueue(out);
    },
  });
  const countEvents = new TransformStream<ProbeEvent[], ProbeEvent[]>({
    transform(events, c) {
      counters.inc("events_in", events.length);
      c.enqueue(events);
    },
  });
  return lines
    .pipeThrough(countLines)
    .pipeThrough(bpftraceRecordParser({
      onMalformed: (line, e) => {
        counters.inc("parse_errors");
        logger.warnLimited("malformed", "unparseable bpftrace line", {
          probe: spec.name,
          error: e.message,
          line: line.slice(0, 200),
        });
      },
    }))
    .pipeThrough(classify)
    .pipeThrough(probeEventMapper(spec.events, clocks, {
      onUnknownEvent: (name) => {
        counters.inc("records_ignored");
        logger.warnLimited(`unknown-${name}`, "tuple names no declared event", {
          probe: spec.name,
          event: name,
        });
      },
      onBadEvent: (event, why) => {
        counters.inc("decode_errors");
        logger.warnLimited(
          `bad-${event}`,
          "event does not match its declared fields",
          { probe: spec.name, event, why },
        );
      },
      onLost: (n) => {
        counters.inc("bpftrace_lost_events", Number(n));
        logger.warnLimited(
          "lost",
          "bpftrace lost events (kernel buffer full)",
          { probe: spec.name, lost: n },
        );
      },
      onMessage: (level, text) => logger.warn(`bpftrace ${level}: ${text}`, { probe: spec.name }),
      onCalibration: () => counters.inc("records_internal"),
      onClockStep: (deltaNs) => {
        counters.inc("clock_steps");
        logger.warn("the wall clock stepped; boot-clock times re-anchored", {
          probe: spec.name,
          stepMs: Number(deltaNs / 1000n) / 1000,
        });
      },
      onClockBacklogDrop: (n) => {
        counters.inc("decode_errors", n);
        logger.warn("events dropped waiting for clock calibration", {
          probe: spec.name,
          dropped: n,
        });
      },
    }))
    .pipeThrough(countEvents)
    .pipeThrough(spanBuilderStream(countedBuilder));
}

/** Starts bpftrace for a probe spec; resolves once probes are attached. */
export async function openBpftraceProbe(o: BpftraceProbeOptions): Promise<ProbeRun> {
  const { spec, logger, counters } = o;
  const params = resolveParams(spec, o.params);
  let script: string;
  // a link out of the spec's folder is refused before anything is read
  const scriptPath = fileInSpecFolder(spec.specPath, spec.scriptPath, "script");
  try {
    script = await Deno.readTextFile(scriptPath);
  } catch (e) {
    throw new UserError(`${spec.specPath}: cannot read script ${spec.scriptPath}: ${(e as Error).message}`, 2);
  }
  const program = prepareScript(spec, script, params) + HEARTBEAT_PROBE;
  const pid = o.pid ?? (params.pid ? Number(params.pid) : undefined);
  const policy = {
    initialMs: o.restart?.initialMs ?? 500,
    maxMs: o.restart?.maxMs ?? 30_000,
    maxAttachFailures: o.restart?.maxAttachFailures ?? 5,
    stableMs: o.restart?.stableMs ?? 60_000,
  };
  const pipeOptions = { ...o, params };
  const onOverlong = overlongCounter(pipeOptions);

  // every process's lines go into one pipeline (one span builder)
  const lines = new TransformStream<LineBatch, LineBatch>();
  const writer = lines.writable.getWriter();
  const spans = linesSpanPipeline(lines.readable, pipeOptions);
  let writerBroken = false;

  // the output buffer shrinks (down to bpftrace's default) while the kernel refuses to map it, unless the user sized it
  let perfPages = userPerfPages() === undefined ? Number(DEFAULT_PERF_RB_PAGES) : undefined;
  const spawn = () =>
    spawnBpftrace({
      bpftrace: o.bpftrace,
      program,
      name: spec.name,
      pid,
      command: o.command,
      logger,
      scriptPath: spec.scriptPath,
      perfPages,
    });
  /** Feeds one process's stdout into the pipeline, framed on its own. */
  async function pump(p: BpftraceProcess): Promise<void> {
    try {
      for await (const batch of p.stdout.pipeThrough(lineSplitter({ onOverlong }))) {
        if (writerBroken) continue;
        await writer.write(batch);
      }
    } catch (e) {
      if (!writerBroken) {
        writerBroken = true;
        logger.debug("bpftrace output no longer read", { probe: spec.name, error: e });
        void p.stop(0);
      }
    }
  }

  let current = spawn();
  let pumping = pump(current);
  const abortAttach = () => void current.stop(o.stopGraceMs ?? 3000);
  o.abort?.addEventListener("abort", abortAttach, { once: true });
  try {
    if (o.abort?.aborted) abortAttach();
    for (;;) {
      try {
        await current.attached;
        break;
      } catch (e) {
        if (o.abort?.aborted || !smallerPerfBuffer(current)) throw e;
        await pumping;
        current = spawn();
        pumping = pump(current);
      }
    }
  } catch (e) {
    await pumping;
    await writer.close().catch(() => {});
    await spans.cancel().catch(() => {});
    throw e;
  } finally {
    o.abort?.removeEventListener("abort", abortAttach);
  }

  /** After a refused output buffer: halve it (logged) and say whether to try again. */
  function smallerPerfBuffer(p: BpftraceProcess): boolean {
    if (perfPages === undefined || perfPages <= MIN_PERF_RB_PAGES || !perfBufferRefused(p.stderrTail())) return false;
    const was = perfPages;
    perfPages = Math.max(MIN_PERF_RB_PAGES, perfPages / 2);
    logger.warn(
      "the kernel refused bpftrace's output buffer (locked-memory limit: raise RLIMIT_MEMLOCK, grant CAP_IPC_LOCK " +
        "or set BPFTRACE_PERF_RB_PAGES); trying a smaller one",
      { probe: spec.name, pagesPerCpu: was, nextPagesPerCpu: perfPages },
    );
    return true;
  }

  let stopping: Promise<void> | undefined;
  const stopAbort = new AbortController();
  const stopGraceMs = o.stopGraceMs ?? 3000;

  async function supervise(): Promise<void> {
    let failures = 0; // restarts in a row, for the backoff
    let attachFailures = 0;
    let startedAt = Date.now();
    let failure: Error | undefined;
    outer: for (;;) {
      const status = await current.exited;
      await pumping;
      if (stopAbort.signal.aborted) break;
      const exit = { probe: spec.name, code: status.code, signal: status.signal ?? undefined };
      if (o.command !== undefined) {
        if (status.success) logger.info("bpftrace exited (the command ended)", exit);
        else {
          logger.error("bpftrace exited; not restarted because it runs --command", exit);
          failure = new Error(`probe ${spec.name}: bpftrace exited with code ${status.code}`);
        }
        break;
      }
      if (status.success) {
        logger.info("bpftrace exited", exit);
        break;
      }
      if (Date.now() - startedAt >= policy.stableMs) failures = 0;
      for (;;) {
        failures++;
        const delay = backoffDelayMs(failures, { initialMs: policy.initialMs, maxMs: policy.maxMs });
        counters.inc("source_restarts");
        logger.warn("bpftrace died; restarting", {
          ...exit,
          restartInMs: delay,
          restarts: counters.get("source_restarts"),
          stderr: current.stderrTail().at(-1),
        });
        if (!await sleep(delay, stopAbort.signal)) break outer;
        try {
          current = spawn();
        } catch (e) {
          failure = e as Error;
          logger.error("cannot restart bpftrace", { probe: spec.name, error: e });
          break outer;
        }
        pumping = pump(current);
        try {
          await current.attached;
        } catch (e) {
          await pumping;
          if (stopAbort.signal.aborted) break outer;
          attachFailures++;
          logger.error("restarted bpftrace could not attach", {
            probe: spec.name,
            attempt: attachFailures,
            of: policy.maxAttachFailures,
            error: (e as Error).message,
          });
          if (attachFailures >= policy.maxAttachFailures) {
            failure = e as Error;
            logger.error("giving up on probe: it cannot attach any more", { probe: spec.name });
            break outer;
          }
          continue;
        }
        attachFailures = 0;
        startedAt = Date.now();
        logger.info("bpftrace restarted", { probe: spec.name, bpftrace_pid: current.pid });
        break;
      }
    }
    await writer.close().catch(() => {});
    if (failure) throw failure;
  }

  const done = supervise();
  done.catch(() => {}); // the agent reads it; no unhandled rejection meanwhile
  return {
    name: spec.name,
    spans,
    done,
    stop() {
      stopping ??= (async () => {
        stopAbort.abort();
        await current.stop(stopGraceMs);
        await done.catch(() => {});
      })();
      return stopping;
    },
  };
}
