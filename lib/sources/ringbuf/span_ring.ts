/**
 * One span config's ring buffer, checked against the loaded object and ready
 * to read: the map exists and is a BPF_MAP_TYPE_RINGBUF, the config's labels
 * add up to the record size the program declares, and each record read is
 * decoded into a span (or counted as skipped or as a decode error).
 * @module
 */
import type { SpanConfig, TracingConfig } from "../../config/tracing_config.ts";
import { UserError } from "../../core/errors.ts";
import type { Attributes, SpanData } from "../../core/span_data.ts";
import type { DecoderEnv } from "../../decoders/mod.ts";
import { missingMapError } from "../../ffi/bpf_errors.ts";
import type { BpfObject } from "../../ffi/bpf_object.ts";
import { MAP_TYPE } from "../../ffi/libbpf.ts";
import { createResourceCache } from "../../spans/resources.ts";
import type { Counters } from "../../telemetry/counters.ts";
import type { Logger } from "../../telemetry/log.ts";
import { compileRecordDecoder } from "./record_spans.ts";
import { openRingReader, type RecordHandler, type RingReader } from "../../ffi/ring_reader.ts";

/** Where decoded spans go, and the clock offset they are converted with (both read per record). */
export interface SpanOutput {
  /** Spans decoded since the owner last took them. */
  spans: SpanData[];
  /** Wall clock minus the monotonic clock, ns. */
  wallOffset: bigint;
}

/** A ring being read, with its counts. */
export interface SpanRing {
  readonly config: SpanConfig;
  readonly reader: RingReader;
  /** Decodes one record into `output.spans`. */
  readonly handler: RecordHandler;
  records: number;
  errors: number;
  skipped: number;
}

/** What {@linkcode openSpanRing} needs besides the span config. */
export interface SpanRingContext {
  obj: BpfObject;
  objectPath: string;
  config: TracingConfig;
  output: SpanOutput;
  counters: Counters;
  logger: Logger;
  /** `service.name` for span configs without `service`. */
  serviceName?: string;
  resourceAttributes?: Attributes;
  decoderEnv?: DecoderEnv;
}

/** Checks `sc`'s ring buffer in the object and opens it; a mismatch throws a UserError (exit 2) naming both sides. */
export function openSpanRing(sc: SpanConfig, ctx: SpanRingContext): SpanRing {
  const { obj, objectPath, output, counters, logger } = ctx;
  if (!obj.hasMap(sc.ringbuf)) {
    const names = obj.mapNames().filter((n) => !n.includes("."));
    const e = missingMapError(objectPath, sc.ringbuf, names, "ring buffer");
    throw new UserError(`${sc.where}: span "${sc.name}": ${e.message}`, 2);
  }
  const map = obj.map(sc.ringbuf);
  if (map.type !== MAP_TYPE.RINGBUF) {
    throw new UserError(
      `${sc.where}: span "${sc.name}": map "${sc.ringbuf}" of ${objectPath} is not a ring buffer (BPF_MAP_TYPE_RINGBUF)`,
      2,
    );
  }
  const declared = obj.btfVarSize(`spanprobe_record__${sc.ringbuf}`);
  if (declared !== undefined && declared !== sc.recordSize) {
    throw new UserError(
      `${sc.where}: span "${sc.name}": labels of config ${ctx.config.path} add up to ${sc.recordSize} bytes ` +
        `(sizes plus padding), but ring buffer "${sc.ringbuf}" of ${objectPath} carries ${declared}-byte records`,
      2,
    );
  }
  const resource = createResourceCache({
    serviceName: sc.service ?? ctx.serviceName,
    extra: ctx.resourceAttributes,
  }).forPid(undefined);
  const decoder = compileRecordDecoder(sc, resource, ctx.decoderEnv);
  const ring: SpanRing = {
    config: sc,
    reader: openRingReader(map),
    handler: (data, off, len) => {
      ring.records++;
      try {
        const span = decoder.decode(data, off, len, output.wallOffset);
        if (span) output.spans.push(span);
        else {
          ring.skipped++;
          counters.inc("records_ignored");
        }
      } catch (e) {
        ring.errors++;
        counters.inc("decode_errors");
        logger.warnLimited(`ringbuf-decode-${sc.name}`, "cannot decode ring-buffer record", {
          span: sc.name,
          ringbuf: sc.ringbuf,
          error: (e as Error).message,
        });
      }
    },
    records: 0,
    errors: 0,
    skipped: 0,
  };
  return ring;
}
