/**
 * bpftrace records to probe events: each tuple `("event", v1, v2, ...)` is
 * matched to its declared layout and its values converted to the declared
 * field types. Also consumes the agent's own records (clock calibration) and
 * accounts for lost events.
 * @module
 */
import type { EventSpec } from "../config/probe_spec.ts";
import { fieldClock, type FieldType, type FieldValue } from "../core/fields.ts";
import { type ClockName, type ClockOffsets, offsetFromEpochText } from "../core/clock.ts";
import { createWallStepDetector, type WallStepDetector } from "../core/clock_step.ts";
import type { ExactValue } from "./exact_json.ts";
import type { BpftraceRecord } from "./bpftrace_records.ts";

/** One probe event. */
export interface ProbeEvent {
  spec: EventSpec;
  /** Values in the order of `spec.fields`. */
  values: FieldValue[];
  /** Wall-clock ns when the agent read it. */
  arrivalNs: bigint;
}

/** The tuple name of the agent's clock calibration record. */
export const CLOCK_EVENT = "__spanprobe_clock";

/** Hooks of {@linkcode probeEventMapper}. */
export interface ProbeEventHooks {
  /** A tuple whose first element names no declared event. */
  onUnknownEvent?: (name: string) => void;
  /** A tuple that does not fit its declared layout. */
  onBadEvent?: (event: string, why: string) => void;
  /** Events bpftrace reported lost. */
  onLost?: (count: bigint) => void;
  /** An error or warning record from bpftrace. */
  onMessage?: (level: string, text: string) => void;
  /** Events dropped while waiting for the first clock calibration (bound reached). */
  onClockBacklogDrop?: (n: number) => void;
  /** Wall-clock now in ns (tests inject). */
  now?: () => bigint;
  /** A calibration record was applied. */
  onCalibration?: () => void;
  /**
   * The wall clock stepped by `deltaNs` since the last calibration or step;
   * kernel-clock times were re-anchored (counted as `clock_steps`).
   */
  onClockStep?: (deltaNs: bigint) => void;
  /** Watches the wall clock for steps (tests inject; a real detector by default). */
  stepDetector?: WallStepDetector;
}

/** Converts one raw value to `type`; throws an Error saying why it cannot. */
export function toFieldValue(v: ExactValue, type: FieldType): FieldValue {
  switch (type) {
    case "string":
      if (typeof v === "string" || v instanceof Uint8Array) return v;
      if (
        typeof v === "number" || typeof v === "bigint" || typeof v === "boolean"
      ) return String(v);
      throw new Error(`expected a string, got ${describe(v)}`);
    case "bool":
      if (typeof v === "boolean") return v;
      if (typeof v === "number" || typeof v === "bigint") {
        return v !== 0 && v !== 0n;
      }
      throw new Error(`expected a boolean, got ${describe(v)}`);
    case "int":
      if (typeof v === "number" && Number.isSafeInteger(v)) return v;
      if (typeof v === "bigint") return v;
      if (typeof v === "string" && /^-?\d+$/.test(v)) {
        const n = Number(v);
        return Number.isSafeInteger(n) ? n : BigInt(v);
      }
      throw new Error(`expected an integer, got ${describe(v)}`);
    default: // *_ns: always bigint
      if (typeof v === "bigint") return v;
      if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
      if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
      throw new Error(`expected an integer, got ${describe(v)}`);
  }
}

function describe(v: ExactValue): string {
  if (v instanceof Uint8Array) return "bytes";
  if (Array.isArray(v)) return "a list";
  if (v === null) return "null";
  return `${typeof v} ${JSON.stringify(typeof v === "bigint" ? String(v) : v)}`
    .slice(0, 60);
}

/** Which clocks the events of a spec read, beyond wall clock. */
export function clocksNeeded(events: Iterable<EventSpec>): Set<ClockName> {
  const out = new Set<ClockName>();
  for (const ev of events) {
    for (const f of ev.fields) {
      const c = fieldClock(f.type);
      if (c && c !== "realtime") out.add(c);
    }
  }
  return out;
}

/**
 * records → events. A tuple's value array becomes its event's (the mapper
 * owns the records it is given). Events that need a kernel clock are held back (up to
 * `maxBacklog`) until the first calibration record arrives; bpftrace reads
 * per-CPU buffers, so that record may come after the first events.
 */
export function probeEventMapper(
  events: Map<string, EventSpec>,
  clocks: ClockOffsets,
  hooks: ProbeEventHooks = {},
  maxBacklog = 100_000,
): TransformStream<BpftraceRecord[], ProbeEvent[]> {
  const now = hooks.now ?? (() => BigInt(Date.now()) * 1_000_000n);
  const needed = clocksNeeded(events.values());
  let calibrated = needed.size === 0;
  let backlog: ProbeEvent[] = [];
  const steps = hooks.stepDetector ?? createWallStepDetector();
  let measured: bigint | undefined; // bpftrace's offset, as its calibration records say
  let stepped = 0n; // the wall clock's step since that offset was measured

  function setOffsets(offset: bigint): void {
    clocks.set("boottime", offset);
    // bpftrace 0.17 cannot read CLOCK_MONOTONIC; without suspend it is within
    // ~200 ns of boot time here (see docs/probe-spec.md).
    clocks.set("monotonic", offset);
  }

  function calibrate(values: ExactValue[]): void {
    const [, clockNs, epoch] = values;
    try {
      const ns = toFieldValue(clockNs, "boottime_ns") as bigint;
      const offset = offsetFromEpochText(
        ns,
        typeof epoch === "string" ? epoch : String(epoch),
      );
      hooks.onCalibration?.();
      // bpftrace repeats the offset it measured at start-up; a new one (a
      // restarted bpftrace) already includes any step: anchor again
      if (offset !== measured) {
        measured = offset;
        stepped = 0n;
        steps.anchor();
        setOffsets(offset);
      }
      calibrated = true;
    } catch (e) {
      hooks.onBadEvent?.(CLOCK_EVENT, (e as Error).message);
    }
  }

  /** Re-anchors kernel-clock times when the wall clock stepped since the calibration. */
  function followSteps(): void {
    if (measured === undefined) return;
    const step = steps.poll();
    if (step === undefined) return;
    const delta = step - stepped;
    stepped = step;
    setOffsets(measured + step);
    hooks.onClockStep?.(delta);
  }

  return new TransformStream<BpftraceRecord[], ProbeEvent[]>({
    transform(records, controller) {
      followSteps();
      const out: ProbeEvent[] = [];
      const arrivalNs = now();
      for (const r of records) {
        if (r.type !== "tuple") {
          if (r.type === "lost_events") hooks.onLost?.(r.count);
          else if (r.type === "message") hooks.onMessage?.(r.level, r.text);
          continue;
        }
        const name = r.values[0];
        if (name === CLOCK_EVENT) {
          calibrate(r.values);
          continue;
        }
        const spec = typeof name === "string" ? events.get(name) : undefined;
        if (!spec) {
          hooks.onUnknownEvent?.(
            typeof name === "string" ? name : describe(name),
          );
          continue;
        }
        if (r.values.length !== spec.fields.length + 1) {
          hooks.onBadEvent?.(
            spec.name,
            `has ${r.values.length - 1} values, the spec declares ${spec.fields.length} fields`,
          );
          continue;
        }
        try {
          // the tuple's array becomes the event's (shifted by its name): no copy
          const values = r.values as FieldValue[];
          const fields = spec.fields;
          const n = fields.length;
          for (let i = 0; i < n; i++) {
            const v = values[i + 1];
            const type = fields[i].type;
            // the common cases need no conversion
            values[i] = (type === "string" && typeof v === "string") ||
                (type === "int" && typeof v === "number" && Number.isSafeInteger(v)) ||
                (typeof v === "bigint" && type !== "string" && type !== "bool")
              ? v
              : toFieldValue(v, type);
          }
          values.length = n;
          out.push({ spec, values, arrivalNs });
        } catch (e) {
          hooks.onBadEvent?.(spec.name, (e as Error).message);
        }
      }
      if (!calibrated) {
        backlog.push(...out);
        if (backlog.length > maxBacklog) {
          hooks.onClockBacklogDrop?.(backlog.length - maxBacklog);
          backlog = backlog.slice(backlog.length - maxBacklog);
        }
        return;
      }
      if (backlog.length) {
        out.unshift(...backlog);
        backlog = [];
      }
      if (out.length) controller.enqueue(out);
    },
    flush() {
      if (backlog.length) hooks.onClockBacklogDrop?.(backlog.length);
    },
  });
}
