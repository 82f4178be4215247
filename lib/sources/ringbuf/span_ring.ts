/**
 * One span config's ring buffer, checked against the loaded object and ready
 * to read: the map exists and is a BPF_MAP_TYPE_RINGBUF, the config's labels
 * are no longer than the record the program declares, and each record read is
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

/** What the checks need from an object, opened (`check`) or loaded (`run`). */
export interface ObjectMaps {
  /** Names of all maps. */
  mapNames(): string[];
  /** The type of map `name`, undefined when there is none. */
  mapType(name: string): number | undefined;
  /** Size in bytes of the BTF global variable `name`, when the object declares one. */
  btfVarSize(name: string): number | undefined;
}

/** The warning for records longer than their labels (said once per span definition). */
export function prefixMessage(sc: SpanConfig, len: number): string {
  return `${sc.where}: span "${sc.name}": records in ring buffer "${sc.ringbuf}" are ${len} bytes, its labels cover ` +
    `${sc.recordSize}: the labelled prefix is decoded, the last ${len - sc.recordSize} bytes of each record are not`;
}

/**
 * Checks `sc` against what an object declares: its ring buffer exists and is
 * a BPF_MAP_TYPE_RINGBUF, and its labels are no longer than the record type
 * the object declares for it (`SPANPROBE_RINGBUF`). Throws a UserError (exit
 * 2) with file:line; returns the declared record size when it is longer than
 * the labels (its labelled prefix is decoded).
 */
export function checkSpanRing(
  sc: SpanConfig,
  obj: ObjectMaps,
  configPath: string,
  objectPath: string,
): number | undefined {
  const type = obj.mapType(sc.ringbuf);
  if (type === undefined) {
    const names = obj.mapNames().filter((n) => !n.includes("."));
    const e = missingMapError(objectPath, sc.ringbuf, names, "ring buffer");
    throw new UserError(`${sc.where}: span "${sc.name}": ${e.message}`, 2);
  }
  if (type !== MAP_TYPE.RINGBUF) {
    throw new UserError(
      `${sc.where}: span "${sc.name}": map "${sc.ringbuf}" of ${objectPath} is not a ring buffer (BPF_MAP_TYPE_RINGBUF)`,
      2,
    );
  }
  const declared = obj.btfVarSize(`spanprobe_record__${sc.ringbuf}`);
  if (declared === undefined || declared === sc.recordSize) return undefined;
  if (declared < sc.recordSize) {
    throw new UserError(
      `${sc.where}: span "${sc.name}": labels of config ${configPath} add up to ${sc.recordSize} bytes ` +
        `(sizes plus padding), but ring buffer "${sc.ringbuf}" of ${objectPath} carries ${declared}-byte records`,
      2,
    );
  }
  return declared;
}

/**
 * Checks `sc`'s ring buffer in the object ({@linkcode checkSpanRing}) and
 * opens it. Records longer than the labels are decoded by their labelled
 * prefix, with one warning for this span definition.
 */
export function openSpanRing(sc: SpanConfig, ctx: SpanRingContext): SpanRing {
  const { obj, objectPath, output, counters, logger } = ctx;
  const maps: ObjectMaps = {
    mapNames: () => obj.mapNames(),
    mapType: (n) => obj.hasMap(n) ? obj.map(n).type : undefined,
    btfVarSize: (n) => obj.btfVarSize(n),
  };
  const declared = checkSpanRing(sc, maps, ctx.config.path, objectPath);
  const map = obj.map(sc.ringbuf);
  let prefixWarned = false;
  const warnPrefix = (len: number) => {
    if (prefixWarned) return;
    prefixWarned = true;
    logger.warn(prefixMessage(sc, len), { span: sc.name, ringbuf: sc.ringbuf, undecodedBytes: len - sc.recordSize });
  };
  if (declared !== undefined) warnPrefix(declared);
  const resource = createResourceCache({
    serviceName: sc.service ?? ctx.serviceName,
    extra: ctx.resourceAttributes,
  }).forPid(undefined);
  const decoder = compileRecordDecoder(sc, resource, ctx.decoderEnv, warnPrefix);
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
