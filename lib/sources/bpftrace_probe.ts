/**
 * A bpftrace probe end to end: prepare the script, run bpftrace, and turn its
 * output into spans — bytes → lines → records → events → spans, each stage a
 * `TransformStream`.
 * @module
 */
import type { ProbeSpec } from "../config/probe_spec.ts";
import { createClockOffsets } from "../spans/clock.ts";
import { createSpanBuilder } from "../spans/span_builder.ts";
import { spanBuilderStream } from "../spans/span_builder_stream.ts";
import type { ResourceCache } from "../spans/resources.ts";
import type { SpanData } from "../spans/span_data.ts";
import { bpftraceRecordParser } from "../streams/bpftrace_records.ts";
import { lineSplitter } from "../streams/lines.ts";
import { type FieldValue, type ProbeEvent, probeEventMapper } from "../streams/probe_events.ts";
import type { Counters } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { spawnBpftrace } from "./bpftrace_process.ts";
import { prepareScript, resolveParams } from "./bpftrace_script.ts";
import type { ProbeRun } from "./probe_run.ts";
import { UserError } from "./probe_run.ts";

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
}

/** Everything from bytes to spans, for any byte source (bpftrace's stdout or a recording). */
export function bpftraceSpanPipeline(
  bytes: ReadableStream<Uint8Array>,
  o: Pick<BpftraceProbeOptions, "spec" | "resources" | "logger" | "counters"> & { params?: Record<string, string> },
): ReadableStream<SpanData[]> {
  const { spec, logger, counters } = o;
  const clocks = createClockOffsets();
  const binary = o.params?.binary;
  const resourceFor = (get: (n: string) => FieldValue | undefined) => {
    const pid = get("pid");
    const comm = get("comm");
    return o.resources.forPid(typeof pid === "bigint" ? Number(pid) : undefined, {
      executableName: typeof comm === "string" ? comm : binary?.replace(/^.*\//, ""),
      executablePath: binary,
    });
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
  const countEvents = new TransformStream<ProbeEvent[], ProbeEvent[]>({
    transform(events, c) {
      counters.inc("events_in", events.length);
      c.enqueue(events);
    },
  });
  const countSpans = new TransformStream<SpanData[], SpanData[]>({
    transform(spans, c) {
      counters.inc("spans_ended", spans.length);
      counters.gauge("open_spans", builder.openCount());
      c.enqueue(spans);
    },
  });
  return bytes
    .pipeThrough(lineSplitter({
      onOverlong: (len) => {
        counters.inc("parse_errors");
        logger.warnLimited("overlong", "dropped an overlong output line", {
          probe: spec.name,
          length: len,
        });
      },
    }))
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
      onClockBacklogDrop: (n) => {
        counters.inc("decode_errors", n);
        logger.warn("events dropped waiting for clock calibration", {
          probe: spec.name,
          dropped: n,
        });
      },
    }))
    .pipeThrough(countEvents)
    .pipeThrough(spanBuilderStream(builder))
    .pipeThrough(countSpans);
}

/** Starts bpftrace for a probe spec; resolves once probes are attached. */
export async function openBpftraceProbe(
  o: BpftraceProbeOptions,
): Promise<ProbeRun> {
  const { spec, logger } = o;
  const params = resolveParams(spec, o.params);
  let script: string;
  try {
    script = await Deno.readTextFile(spec.scriptPath);
  } catch (e) {
    throw new UserError(
      `${spec.specPath}: cannot read script ${spec.scriptPath}: ${(e as Error).message}`,
      2,
    );
  }
  const program = prepareScript(spec, script, params);
  const pid = o.pid ?? (params.pid ? Number(params.pid) : undefined);
  const proc = spawnBpftrace({
    bpftrace: o.bpftrace,
    program,
    name: spec.name,
    pid,
    command: o.command,
    logger,
  });
  const spans = bpftraceSpanPipeline(proc.stdout, { ...o, params });
  try {
    await proc.attached;
  } catch (e) {
    await spans.cancel().catch(() => {});
    throw e;
  }
  let stopping: Promise<void> | undefined;
  const done = proc.exited.then((status) => {
    if (!stopping) {
      const level = status.success ? "info" : "warn";
      logger[level]("bpftrace exited", {
        probe: spec.name,
        code: status.code,
        signal: status.signal ?? undefined,
      });
    }
  });
  return {
    name: spec.name,
    spans,
    done,
    stop() {
      stopping ??= proc.stop();
      return stopping;
    },
  };
}
