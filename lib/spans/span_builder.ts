/**
 * Span builder: probe events to finished spans, by the rules of a probe spec.
 *
 * Paired spans are correlated by key, never by arrival order (bpftrace reads
 * per-CPU buffers, so an end may arrive before its start): an end with no
 * open start waits up to the reorder window for it. Open spans per key form a
 * stack (nested calls end innermost first). Open spans older than their TTL
 * are evicted and exported with error status and `spanprobe.incomplete`
 * saying why; the open table is bounded per span definition (the oldest open
 * span is evicted on overflow).
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
import { fieldClock } from "../config/probe_spec.ts";
import type { TemplateValue } from "../config/template.ts";
import type { FieldValue, ProbeEvent } from "../streams/probe_events.ts";
import type { ClockOffsets } from "./clock.ts";
import { newSpanId, newTraceId } from "./ids.ts";
import {
  type Attributes,
  type Resource,
  type SpanData,
  type SpanEvent,
  type SpanStatus,
  StatusCode,
} from "./span_data.ts";

/** Why an open span was ended by the agent rather than by its end event. */
export type IncompleteReason = "ttl" | "overflow" | "shutdown";

/** Hooks and options of {@linkcode createSpanBuilder}. */
export interface SpanBuilderOptions {
  spec: ProbeSpec;
  clocks: ClockOffsets;
  /** The resource of a span, from its events' fields (e.g. by pid). */
  resourceFor: (field: (name: string) => FieldValue | undefined) => Resource;
  /** Wall-clock now in ns. */
  now?: () => bigint;
  /** How long an end waits for its start (default 5 s). */
  reorderWindowNs?: bigint;
  onSpanStarted?: () => void;
  /** An open span ended by the agent. */
  onIncomplete?: (reason: IncompleteReason, span: SpanData) => void;
  /** An end (or error) event whose start never came. */
  onOrphan?: (event: string) => void;
}

/** The span builder's state and operations. */
export interface SpanBuilder {
  /** Feed events; returns the spans they finished. */
  add(events: ProbeEvent[]): SpanData[];
  /** Evict expired open spans and orphan ends; returns evicted spans. */
  sweep(): SpanData[];
  /** End every open span (reason `shutdown`) and return them. */
  drain(): SpanData[];
  /** Forget every open span and waiting event without reporting them; returns how many spans were open. */
  discard(): number;
  /** How many spans are open now. */
  openCount(): number;
}

interface OpenSpan {
  rule: CompiledSpan;
  key: string;
  startEvent: ProbeEvent;
  startNs: bigint;
  deadlineNs: bigint;
  traceId: string;
  spanId: string;
  errorMessage?: string;
  events?: SpanEvent[];
}

interface PendingEnd {
  key: string;
  event: ProbeEvent;
  deadlineNs: bigint;
  /** Set for a waiting error event: the index of its rule. */
  errorIndex?: number;
}

type Getter = (e: ProbeEvent) => FieldValue | undefined;

interface CompiledSpan {
  spec: SpanSpec;
  open: Map<string, OpenSpan[]>;
  /** Every open span, in start order (insertion-ordered set: O(1) removal), for TTL and overflow; its size is the open count. */
  order: Set<OpenSpan>;
  pendingEnds: Map<string, PendingEnd[]>;
  /** Error events whose start has not arrived yet. */
  pendingErrors: Map<string, PendingEnd[]>;
  /** Waiting ends and errors in arrival order. */
  pendingOrder: Set<PendingEnd>;
}

function indexOf(spec: EventSpec): Map<string, number> {
  return new Map(spec.fields.map((f, i) => [f.name, i]));
}

/** A span builder for one probe spec. */
export function createSpanBuilder(options: SpanBuilderOptions): SpanBuilder {
  const { spec, clocks } = options;
  const now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n);
  const reorderNs = options.reorderWindowNs ?? 5_000_000_000n;
  const indexes = new Map<EventSpec, Map<string, number>>();
  for (const ev of spec.events.values()) indexes.set(ev, indexOf(ev));
  const getter = (name: string): Getter => (e) => {
    const i = indexes.get(e.spec)!.get(name);
    return i === undefined ? undefined : e.values[i];
  };
  const rules: CompiledSpan[] = spec.spans.map((s) => ({
    spec: s,
    open: new Map(),
    order: new Set(),
    pendingEnds: new Map(),
    pendingErrors: new Map(),
    pendingOrder: new Set(),
  }));
  // event name → rules that react to it, with the role
  type Role = "start" | "end" | "complete" | "error";
  const byEvent = new Map<
    string,
    { rule: CompiledSpan; role: Role; errorIndex?: number }[]
  >();
  const on = (
    event: string,
    rule: CompiledSpan,
    role: Role,
    errorIndex?: number,
  ) => {
    if (!byEvent.has(event)) byEvent.set(event, []);
    byEvent.get(event)!.push({ rule, role, errorIndex });
  };
  for (const r of rules) {
    if (r.spec.complete) on(r.spec.complete.event, r, "complete");
    if (r.spec.start) on(r.spec.start.event, r, "start");
    if (r.spec.end) on(r.spec.end.event, r, "end");
    r.spec.errors.forEach((er, i) => on(er.event, r, "error", i));
  }
  const keyGetters = new Map<SpanSpec, Getter[]>(
    spec.spans.map((s) => [s, s.key.map(getter)]),
  );

  function keyOf(rule: CompiledSpan, e: ProbeEvent): string {
    const gs = keyGetters.get(rule.spec)!;
    if (gs.length === 1) return keyPart(gs[0](e));
    let k = "";
    for (const g of gs) k += keyPart(g(e)) + "\u001f";
    return k;
  }

  function timeOf(src: TimeSource, e: ProbeEvent): bigint {
    if (src === "arrival") return e.arrivalNs;
    return fieldTime(e, src.field);
  }

  function fieldTime(e: ProbeEvent, field: string): bigint {
    const i = indexes.get(e.spec)!.get(field)!;
    const clock = fieldClock(e.spec.fields[i].type) ?? "realtime";
    return clocks.toWall(clock, e.values[i] as bigint);
  }

  function lookup(events: ProbeEvent[]) {
    return (name: string): FieldValue | undefined => {
      for (const e of events) {
        const i = indexes.get(e.spec)!.get(name);
        if (i !== undefined) return e.values[i];
      }
      return undefined;
    };
  }

  function finish(
    rule: CompiledSpan,
    events: ProbeEvent[],
    startNs: bigint,
    endNs: bigint,
    ids: { traceId: string; spanId: string } | undefined,
    extra?: {
      errorMessage?: string;
      events?: SpanEvent[];
      incomplete?: IncompleteReason;
    },
  ): SpanData {
    const s = rule.spec;
    const get = lookup(events);
    const attributes: Attributes = {};
    for (const [name, source] of s.attributes) {
      const v = attributeValue(source, get);
      if (v !== undefined) attributes[name] = v;
    }
    let status: SpanStatus = { code: StatusCode.UNSET };
    if (extra?.errorMessage !== undefined) {
      status = { code: StatusCode.ERROR, message: extra.errorMessage };
    } else {
      for (const c of s.errorWhen) {
        const v = get(c.field);
        if (v !== undefined && matches(c, v)) {
          status = {
            code: StatusCode.ERROR,
            message: `${c.field}=${displayValue(v)}`,
          };
          break;
        }
      }
    }
    if (extra?.incomplete) {
      attributes["spanprobe.incomplete"] = extra.incomplete;
      status = {
        code: StatusCode.ERROR,
        message: extra.incomplete === "shutdown"
          ? "span still open when the agent stopped"
          : extra.incomplete === "ttl"
          ? `no end event within ${s.ttlNs / 1_000_000n} ms`
          : `open-span limit (${s.maxOpen}) reached; evicted oldest`,
      };
    }
    const span: SpanData = {
      traceId: ids?.traceId ?? newTraceId(),
      spanId: ids?.spanId ?? newSpanId(),
      name: s.name.render(get as (f: string) => TemplateValue),
      kind: s.kind,
      startNs,
      endNs: endNs < startNs ? startNs : endNs,
      attributes,
      status,
      resource: options.resourceFor(get),
    };
    if (extra?.events?.length) span.events = extra.events;
    return span;
  }

  function complete(rule: CompiledSpan, e: ProbeEvent): SpanData {
    const c = rule.spec.complete!;
    const startNs = timeOf(c.start, e);
    let endNs = startNs;
    if (c.duration) endNs = startNs + asBigInt(getter(c.duration)(e));
    else if (c.end) endNs = fieldTime(e, c.end);
    return finish(rule, [e], startNs, endNs, undefined);
  }

  function endOpen(
    rule: CompiledSpan,
    open: OpenSpan,
    e: ProbeEvent,
  ): SpanData {
    const end = rule.spec.end!;
    let startNs = open.startNs;
    if (end.start) startNs = fieldTime(e, end.start);
    const endNs = end.duration ? startNs + asBigInt(getter(end.duration)(e)) : timeOf(end.time ?? "arrival", e);
    return finish(rule, [e, open.startEvent], startNs, endNs, open, {
      errorMessage: open.errorMessage,
      events: open.events,
    });
  }

  function popOpen(rule: CompiledSpan, key: string): OpenSpan | undefined {
    const stack = rule.open.get(key);
    if (!stack) return undefined;
    const open = stack.pop()!;
    if (stack.length === 0) rule.open.delete(key);
    rule.order.delete(open);
    return open;
  }

  function evict(
    rule: CompiledSpan,
    open: OpenSpan,
    reason: IncompleteReason,
    out: SpanData[],
  ): void {
    const stack = rule.open.get(open.key)!;
    stack.splice(stack.indexOf(open), 1);
    if (stack.length === 0) rule.open.delete(open.key);
    rule.order.delete(open);
    const endNs = now();
    const span = finish(rule, [open.startEvent], open.startNs, endNs, open, {
      events: open.events,
      incomplete: reason,
      errorMessage: open.errorMessage,
    });
    options.onIncomplete?.(reason, span);
    out.push(span);
  }

  function oldestOpen(rule: CompiledSpan): OpenSpan | undefined {
    return rule.order.values().next().value;
  }

  function start(rule: CompiledSpan, e: ProbeEvent, out: SpanData[]): void {
    const key = keyOf(rule, e);
    const startNs = timeOf(rule.spec.start!.time, e);
    options.onSpanStarted?.();
    const pending = rule.pendingEnds.get(key);
    const open: OpenSpan = {
      rule,
      key,
      startEvent: e,
      startNs,
      deadlineNs: e.arrivalNs + rule.spec.ttlNs,
      traceId: newTraceId(),
      spanId: newSpanId(),
    };
    const errors = rule.pendingErrors.get(key);
    if (errors) {
      for (const p of [...errors]) {
        unwait(rule, p);
        markError(rule, open, p.event, p.errorIndex!);
      }
    }
    if (pending) {
      const p = pending[0];
      unwait(rule, p);
      out.push(endOpen(rule, open, p.event));
      return;
    }
    if (rule.order.size >= rule.spec.maxOpen) {
      const oldest = oldestOpen(rule);
      if (oldest) evict(rule, oldest, "overflow", out);
    }
    let stack = rule.open.get(key);
    if (!stack) rule.open.set(key, stack = []);
    stack.push(open);
    rule.order.add(open);
  }

  function end(rule: CompiledSpan, e: ProbeEvent, out: SpanData[]): void {
    const key = keyOf(rule, e);
    const open = popOpen(rule, key);
    if (open) {
      out.push(endOpen(rule, open, e));
      return;
    }
    waitFor(rule, rule.pendingEnds, { key, event: e, deadlineNs: e.arrivalNs + reorderNs });
  }

  function error(rule: CompiledSpan, e: ProbeEvent, errorIndex: number): void {
    const key = keyOf(rule, e);
    const stack = rule.open.get(key);
    const open = stack?.[stack.length - 1];
    if (!open) {
      // its start may still be on its way (per-CPU reordering): wait like an end
      waitFor(rule, rule.pendingErrors, { key, event: e, deadlineNs: e.arrivalNs + reorderNs, errorIndex });
      return;
    }
    markError(rule, open, e, errorIndex);
  }

  function markError(rule: CompiledSpan, open: OpenSpan, e: ProbeEvent, errorIndex: number): void {
    const er = rule.spec.errors[errorIndex];
    const get = lookup([e]);
    open.errorMessage = er.message ? er.message.render(get as (f: string) => TemplateValue) : e.spec.name;
    (open.events ??= []).push({
      name: "exception",
      timeNs: timeOf(er.time, e),
      attributes: {
        "exception.message": open.errorMessage,
        "spanprobe.event": e.spec.name,
      },
    });
  }

  function waitFor(rule: CompiledSpan, table: Map<string, PendingEnd[]>, p: PendingEnd): void {
    let list = table.get(p.key);
    if (!list) table.set(p.key, list = []);
    list.push(p);
    rule.pendingOrder.add(p);
  }

  function unwait(rule: CompiledSpan, p: PendingEnd): void {
    const table = p.errorIndex === undefined ? rule.pendingEnds : rule.pendingErrors;
    const list = table.get(p.key)!;
    list.splice(list.indexOf(p), 1);
    if (list.length === 0) table.delete(p.key);
    rule.pendingOrder.delete(p);
  }

  return {
    add(events) {
      const out: SpanData[] = [];
      for (const e of events) {
        const targets = byEvent.get(e.spec.name);
        if (!targets) continue;
        for (const t of targets) {
          switch (t.role) {
            case "complete":
              out.push(complete(t.rule, e));
              break;
            case "start":
              start(t.rule, e, out);
              break;
            case "end":
              end(t.rule, e, out);
              break;
            case "error":
              error(t.rule, e, t.errorIndex!);
              break;
          }
        }
      }
      return out;
    },
    sweep() {
      const out: SpanData[] = [];
      const t = now();
      for (const rule of rules) {
        for (
          let o = oldestOpen(rule);
          o && o.deadlineNs <= t;
          o = oldestOpen(rule)
        ) {
          evict(rule, o, "ttl", out);
        }
        for (const p of rule.pendingOrder) {
          if (p.deadlineNs > t) break;
          unwait(rule, p);
          options.onOrphan?.(p.event.spec.name);
        }
      }
      return out;
    },
    drain() {
      const out: SpanData[] = [];
      for (const rule of rules) {
        for (let o = oldestOpen(rule); o; o = oldestOpen(rule)) {
          evict(rule, o, "shutdown", out);
        }
        for (const p of rule.pendingOrder) options.onOrphan?.(p.event.spec.name);
        rule.pendingEnds.clear();
        rule.pendingErrors.clear();
        rule.pendingOrder.clear();
      }
      return out;
    },
    discard() {
      let n = 0;
      for (const rule of rules) {
        n += rule.order.size;
        rule.open.clear();
        rule.order.clear();
        rule.pendingEnds.clear();
        rule.pendingErrors.clear();
        rule.pendingOrder.clear();
      }
      return n;
    },
    openCount() {
      let n = 0;
      for (const r of rules) n += r.order.size;
      return n;
    },
  };
}

function keyPart(v: FieldValue | undefined): string {
  if (v instanceof Uint8Array) {
    return Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("") +
      "\u0000b";
  }
  return String(v);
}

function displayValue(v: FieldValue): string {
  return v instanceof Uint8Array ? `${v.length} bytes` : String(v);
}

function attributeValue(
  source: AttributeSource,
  get: (name: string) => FieldValue | undefined,
): FieldValue | number | undefined {
  if ("field" in source) return get(source.field);
  if ("template" in source) {
    return source.template.render(get as (f: string) => TemplateValue);
  }
  return source.constant;
}

/** A duration field (`duration_ns` is bigint; an `int` field may be a number). */
function asBigInt(v: FieldValue | undefined): bigint {
  return typeof v === "number" ? BigInt(v) : v as bigint;
}

function compare(
  a: number | bigint | string | boolean,
  b: number | string | boolean,
): number | undefined {
  if (typeof a === "number") {
    return typeof b === "number" ? (a < b ? -1 : a > b ? 1 : 0) : undefined;
  }
  if (typeof a === "bigint") {
    if (typeof b === "number") {
      const bb = Number.isInteger(b) ? BigInt(b) : undefined;
      if (bb === undefined) return Number(a) < b ? -1 : Number(a) > b ? 1 : 0;
      return a < bb ? -1 : a > bb ? 1 : 0;
    }
    return undefined;
  }
  if (typeof a === "string" && typeof b === "string") {
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === "boolean" && typeof b === "boolean") return a === b ? 0 : 1;
  return undefined;
}

/** Whether `v` satisfies a status condition. */
export function matches(c: StatusCondition, v: FieldValue): boolean {
  if (v instanceof Uint8Array) return false;
  const r = compare(v, c.value);
  if (r === undefined) return c.op === "!=";
  switch (c.op) {
    case ">=":
      return r >= 0;
    case ">":
      return r > 0;
    case "<=":
      return r <= 0;
    case "<":
      return r < 0;
    case "==":
      return r === 0;
    case "!=":
      return r !== 0;
  }
}
