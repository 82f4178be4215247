/**
 * Event fields: the types a source may declare for a field and the typed
 * values it delivers. Time fields name their kernel clock.
 * @module
 */
import type { ClockName } from "./clock.ts";

/** Types a tuple field may have. */
export type FieldType =
  | "int"
  | "string"
  | "bool"
  | "realtime_ns"
  | "boottime_ns"
  | "monotonic_ns"
  | "duration_ns";

/** All field types, for validation and docs. */
export const FIELD_TYPES: readonly FieldType[] = [
  "int",
  "string",
  "bool",
  "realtime_ns",
  "boottime_ns",
  "monotonic_ns",
  "duration_ns",
];

/** The clock of a time field type, if it is one. */
export function fieldClock(type: FieldType): ClockName | undefined {
  switch (type) {
    case "realtime_ns":
      return "realtime";
    case "boottime_ns":
      return "boottime";
    case "monotonic_ns":
      return "monotonic";
    default:
      return undefined;
  }
}

/**
 * A typed field value. `int` fields are a `number` when exactly representable
 * (|v| < 2^53, the common case: no allocation) and a `bigint` beyond; times
 * and durations are always `bigint`; non-UTF-8 strings are bytes.
 */
export type FieldValue = number | bigint | string | boolean | Uint8Array;
