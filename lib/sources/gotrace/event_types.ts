/**
 * Event types of the v2 trace format and, per format version, how many
 * uvarint arguments each carries (so any event can be skipped by size).
 * Numbers and argument lists follow Go's `internal/trace/tracev2`.
 * @module
 */
import type { GoTraceVersion } from "./header.ts";

/** Wire numbers of the event types. */
export const Ev = {
  EventBatch: 1,
  Stacks: 2,
  Stack: 3,
  Strings: 4,
  String: 5,
  CPUSamples: 6,
  CPUSample: 7,
  Frequency: 8,
  ProcsChange: 9,
  ProcStart: 10,
  ProcStop: 11,
  ProcSteal: 12,
  ProcStatus: 13,
  GoCreate: 14,
  GoCreateSyscall: 15,
  GoStart: 16,
  GoDestroy: 17,
  GoDestroySyscall: 18,
  GoStop: 19,
  GoBlock: 20,
  GoUnblock: 21,
  GoSyscallBegin: 22,
  GoSyscallEnd: 23,
  GoSyscallEndBlocked: 24,
  GoStatus: 25,
  STWBegin: 26,
  STWEnd: 27,
  GCActive: 28,
  GCBegin: 29,
  GCEnd: 30,
  GCSweepActive: 31,
  GCSweepBegin: 32,
  GCSweepEnd: 33,
  GCMarkAssistActive: 34,
  GCMarkAssistBegin: 35,
  GCMarkAssistEnd: 36,
  HeapAlloc: 37,
  HeapGoal: 38,
  GoLabel: 39,
  UserTaskBegin: 40,
  UserTaskEnd: 41,
  UserRegionBegin: 42,
  UserRegionEnd: 43,
  UserLog: 44,
  GoSwitch: 45,
  GoSwitchDestroy: 46,
  GoCreateBlocked: 47,
  GoStatusStack: 48,
  ExperimentalBatch: 49,
  Sync: 50,
  ClockSnapshot: 51,
  EndOfGeneration: 52,
  // experimental events (AllocFree experiment), only inside experimental batches
  Span: 128,
  SpanAlloc: 129,
  SpanFree: 130,
  HeapObject: 131,
  HeapObjectAlloc: 132,
  HeapObjectFree: 133,
  GoroutineStack: 134,
  GoroutineStackAlloc: 135,
  GoroutineStackFree: 136,
} as const;

/** The AllocFree experiment's number (the byte after an experimental batch's type byte). */
export const EXPERIMENT_ALLOC_FREE = 1;

/** Go's `NoThread` M id, used by batches not tied to a thread. */
export const NO_THREAD = (1n << 64n) - 1n;

/** Largest batch Go writes (`MaxBatchSize`). */
export const MAX_BATCH_SIZE = 64 << 10;
/** Largest string in a string table (`MaxEventTrailerDataSize`). */
export const MAX_STRING_SIZE = 1 << 10;
/** Largest stack in a stack table (`MaxFramesPerStack`). */
export const MAX_FRAMES = 128;

/** Argument names of the timed events (first is always the timestamp delta `dt`). */
export const TIMED_ARGS: Readonly<Record<number, readonly string[]>> = {
  [Ev.ProcsChange]: ["dt", "procs_value", "stack"],
  [Ev.ProcStart]: ["dt", "p", "p_seq"],
  [Ev.ProcStop]: ["dt"],
  [Ev.ProcSteal]: ["dt", "p", "p_seq", "m"],
  [Ev.ProcStatus]: ["dt", "p", "pstatus"],
  [Ev.GoCreate]: ["dt", "new_g", "new_stack", "stack"],
  [Ev.GoCreateSyscall]: ["dt", "new_g"],
  [Ev.GoStart]: ["dt", "g", "g_seq"],
  [Ev.GoDestroy]: ["dt"],
  [Ev.GoDestroySyscall]: ["dt"],
  [Ev.GoStop]: ["dt", "reason_string", "stack"],
  [Ev.GoBlock]: ["dt", "reason_string", "stack"],
  [Ev.GoUnblock]: ["dt", "g", "g_seq", "stack"],
  [Ev.GoSyscallBegin]: ["dt", "p_seq", "stack"],
  [Ev.GoSyscallEnd]: ["dt"],
  [Ev.GoSyscallEndBlocked]: ["dt"],
  [Ev.GoStatus]: ["dt", "g", "m", "gstatus"],
  [Ev.STWBegin]: ["dt", "kind_string", "stack"],
  [Ev.STWEnd]: ["dt"],
  [Ev.GCActive]: ["dt", "gc_seq"],
  [Ev.GCBegin]: ["dt", "gc_seq", "stack"],
  [Ev.GCEnd]: ["dt", "gc_seq"],
  [Ev.GCSweepActive]: ["dt", "p"],
  [Ev.GCSweepBegin]: ["dt", "stack"],
  [Ev.GCSweepEnd]: ["dt", "swept_value", "reclaimed_value"],
  [Ev.GCMarkAssistActive]: ["dt", "g"],
  [Ev.GCMarkAssistBegin]: ["dt", "stack"],
  [Ev.GCMarkAssistEnd]: ["dt"],
  [Ev.HeapAlloc]: ["dt", "heapalloc_value"],
  [Ev.HeapGoal]: ["dt", "heapgoal_value"],
  [Ev.GoLabel]: ["dt", "label_string"],
  [Ev.UserTaskBegin]: ["dt", "task", "parent_task", "name_string", "stack"],
  [Ev.UserTaskEnd]: ["dt", "task", "stack"],
  [Ev.UserRegionBegin]: ["dt", "task", "name_string", "stack"],
  [Ev.UserRegionEnd]: ["dt", "task", "name_string", "stack"],
  [Ev.UserLog]: ["dt", "task", "key_string", "value_string", "stack"],
  [Ev.GoSwitch]: ["dt", "g", "g_seq"],
  [Ev.GoSwitchDestroy]: ["dt", "g", "g_seq"],
  [Ev.GoCreateBlocked]: ["dt", "new_g", "new_stack", "stack"],
  [Ev.GoStatusStack]: ["dt", "g", "m", "gstatus", "stack"],
  [Ev.ClockSnapshot]: ["dt", "mono", "sec", "nsec"],
  [Ev.Span]: ["dt", "id", "npages_value", "kindclass"],
  [Ev.SpanAlloc]: ["dt", "id", "npages_value", "kindclass"],
  [Ev.SpanFree]: ["dt", "id"],
  [Ev.HeapObject]: ["dt", "id", "type"],
  [Ev.HeapObjectAlloc]: ["dt", "id", "type"],
  [Ev.HeapObjectFree]: ["dt", "id"],
  [Ev.GoroutineStack]: ["dt", "id", "order"],
  [Ev.GoroutineStackAlloc]: ["dt", "id", "order"],
  [Ev.GoroutineStackFree]: ["dt", "id"],
};

/** Names of every event type, by wire number. */
export const EVENT_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(Ev).map(([name, n]) => [n, name]),
);

/** The last event type allowed in a regular event batch, per version. */
const LAST_BATCH_EVENT: Record<GoTraceVersion, number> = {
  22: Ev.UserLog,
  23: Ev.GoStatusStack,
  25: Ev.GoStatusStack,
  26: Ev.GoStatusStack,
};

/**
 * Argument counts of the events allowed in a regular event batch of format
 * `version`, indexed by type (0 = not allowed there).
 */
export function batchEventArgCounts(version: GoTraceVersion): Uint8Array {
  const counts = new Uint8Array(256);
  for (let t = Ev.ProcsChange; t <= LAST_BATCH_EVENT[version]; t++) counts[t] = TIMED_ARGS[t].length;
  return counts;
}

/** Argument counts of the experimental events (AllocFree), indexed by type; Go 1.23 and later. */
export function experimentalArgCounts(version: GoTraceVersion): Uint8Array {
  const counts = new Uint8Array(256);
  if (version >= 23) { for (let t = Ev.Span; t <= Ev.GoroutineStackFree; t++) counts[t] = TIMED_ARGS[t].length; }
  return counts;
}

/** Human name of event type `t`. */
export function eventName(t: number): string {
  return EVENT_NAMES.get(t) ?? `unknown event type ${t}`;
}
