/**
 * A probe spec compiled for the span builder: every name resolved to a field
 * position once, so handling an event does no lookup by name. Per span rule:
 * the key's positions per event layout and where each time comes from; per
 * pair of event layouts (lazily): where each attribute and error condition
 * reads its value; per event name: the rules that react to it and how.
 * @module
 */
import type {
  AttributeSource,
  EventSpec,
  ProbeSpec,
  SpanSpec,
  StatusCondition,
  TimeSource,
} from "../config/probe_spec.ts";
import type { ClockName } from "../core/clock.ts";
import { fieldClock } from "../core/fields.ts";

/** Field positions by name, per event layout. */
export type FieldIndexes = Map<EventSpec, Map<string, number>>;

/** Where a time comes from, resolved for one event layout. */
export type CompiledTime = "arrival" | { index: number; clock: ClockName };

/** How a finished span reads its attributes and status: field positions resolved per event layout pair. */
export interface FinishPlan {
  /** Attribute name, then the value's event (0 first, 1 second, -1 not a field) and position. */
  attributes: { name: string; event: number; index: number; source: AttributeSource }[];
  errorWhen: { condition: StatusCondition; event: number; index: number }[];
}

/** One span rule of a spec, its names resolved to positions. */
export interface SpanRule {
  spec: SpanSpec;
  /** Key field positions per event layout. */
  keyIndexes: Map<EventSpec, number[]>;
  startTime?: CompiledTime;
  endTime?: CompiledTime;
  endStart?: CompiledTime;
  endDuration?: number;
  completeStart?: CompiledTime;
  completeEnd?: CompiledTime;
  completeDuration?: number;
  errorTimes: CompiledTime[];
  /** Finish plans by (first event layout, second event layout or null), filled by {@linkcode finishPlan}. */
  plans: Map<EventSpec, Map<EventSpec | null, FinishPlan>>;
}

/** What an event does to a rule. */
export type Role = "start" | "end" | "complete" | "error";

/** A rule that reacts to an event: its role, the error's index (role `error`), the key's positions in the event. */
export interface EventTarget<R> {
  rule: R;
  role: Role;
  errorIndex: number;
  keyIndexes: number[];
}

/** The field positions of every event layout of `spec`. */
export function fieldIndexes(spec: ProbeSpec): FieldIndexes {
  const indexes: FieldIndexes = new Map();
  for (const ev of spec.events.values()) indexes.set(ev, new Map(ev.fields.map((f, i) => [f.name, i])));
  return indexes;
}

/** `s` with its key, times and durations resolved (the spec was validated: every name exists). */
export function compileSpanRule(s: SpanSpec, spec: ProbeSpec, indexes: FieldIndexes): SpanRule {
  const eventSpec = (name: string): EventSpec => spec.events.get(name)!;
  const field = (name: string, ev: EventSpec): { index: number; clock: ClockName } => {
    const index = indexes.get(ev)!.get(name)!;
    return { index, clock: fieldClock(ev.fields[index].type) ?? "realtime" };
  };
  const time = (src: TimeSource, ev: EventSpec): CompiledTime => src === "arrival" ? "arrival" : field(src.field, ev);

  const keyIndexes = new Map<EventSpec, number[]>();
  for (const ev of spec.events.values()) {
    const idx = s.key.map((k) => indexes.get(ev)!.get(k));
    if (idx.every((i) => i !== undefined)) keyIndexes.set(ev, idx as number[]);
  }
  const rule: SpanRule = {
    spec: s,
    keyIndexes,
    errorTimes: s.errors.map((er) => time(er.time, eventSpec(er.event))),
    plans: new Map(),
  };
  if (s.start) rule.startTime = time(s.start.time, eventSpec(s.start.event));
  if (s.end) {
    const ev = eventSpec(s.end.event);
    rule.endTime = time(s.end.time ?? "arrival", ev);
    if (s.end.start) rule.endStart = field(s.end.start, ev);
    if (s.end.duration) rule.endDuration = indexes.get(ev)!.get(s.end.duration);
  }
  if (s.complete) {
    const ev = eventSpec(s.complete.event);
    rule.completeStart = time(s.complete.start, ev);
    if (s.complete.end) rule.completeEnd = field(s.complete.end, ev);
    if (s.complete.duration) rule.completeDuration = indexes.get(ev)!.get(s.complete.duration);
  }
  return rule;
}

/** Event name → the rules that react to it, in rule order. */
export function eventTargets<R extends SpanRule>(rules: R[], spec: ProbeSpec): Map<string, EventTarget<R>[]> {
  const byEvent = new Map<string, EventTarget<R>[]>();
  const on = (event: string, rule: R, role: Role, errorIndex = -1) => {
    if (!byEvent.has(event)) byEvent.set(event, []);
    const keyIndexes = rule.keyIndexes.get(spec.events.get(event)!) ?? [];
    byEvent.get(event)!.push({ rule, role, errorIndex, keyIndexes });
  };
  for (const r of rules) {
    if (r.spec.complete) on(r.spec.complete.event, r, "complete");
    if (r.spec.start) on(r.spec.start.event, r, "start");
    if (r.spec.end) on(r.spec.end.event, r, "end");
    r.spec.errors.forEach((er, i) => on(er.event, r, "error", i));
  }
  return byEvent;
}

/** Where `rule`'s attributes and error conditions read from a span of events `a` (and `b`); cached in the rule. */
export function finishPlan(rule: SpanRule, a: EventSpec, b: EventSpec | null, indexes: FieldIndexes): FinishPlan {
  let byB = rule.plans.get(a);
  if (!byB) rule.plans.set(a, byB = new Map());
  let plan = byB.get(b);
  if (plan) return plan;
  const locate = (name: string): { event: number; index: number } => {
    const i = indexes.get(a)!.get(name);
    if (i !== undefined) return { event: 0, index: i };
    const j = b ? indexes.get(b)!.get(name) : undefined;
    return j !== undefined ? { event: 1, index: j } : { event: -1, index: -1 };
  };
  plan = {
    attributes: rule.spec.attributes.map(([name, source]) => ({
      name,
      source,
      ...("field" in source ? locate(source.field) : { event: -1, index: -1 }),
    })),
    errorWhen: rule.spec.errorWhen.map((condition) => ({ condition, ...locate(condition.field) })),
  };
  byB.set(b, plan);
  return plan;
}
