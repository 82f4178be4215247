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
import { ATTR_EXCEPTION_MESSAGE, EVENT_EXCEPTION } from "@opentelemetry/semantic-conventions";
import type { ProbeSpec, StatusCondition } from "../config/probe_spec.ts";
import type { TemplateValue } from "../config/template.ts";
import type { ClockOffsets } from "../core/clock.ts";
import type { FieldValue } from "../core/fields.ts";
import { newSpanId, newTraceId } from "../core/ids.ts";
import { ownString, ownStrings } from "../core/own_string.ts";
import {
  type Attributes,
  type Resource,
  type SpanData,
  type SpanEvent,
  type SpanStatus,
  StatusCode,
} from "../core/span_data.ts";
import type { ProbeEvent } from "../streams/probe_events.ts";
import { createKeyTable, foldKeyParts, type KeyPart, keyPartOf, type KeyTable } from "./key_table.ts";
import {
  type CompiledTime,
  compileSpanRule,
  eventTargets,
  fieldIndexes,
  finishPlan,
  type SpanRule,
} from "./span_rules.ts";

/** Why an open span was ended by the agent rather than by its end event. */
export type IncompleteReason = "ttl" | "overflow" | "shutdown";

/** Hooks and options of {@linkcode createSpanBuilder}. */
export interface SpanBuilderOptions {
  spec: ProbeSpec;
  clocks: ClockOffsets;
  /**
   * The resource of a span, from its events' fields (e.g. by pid). `field`
   * reads the events of the span being finished: use it during the call only.
   */
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
  /** The key (second part unused for one-field keys). */
  k1: KeyPart;
  k2: KeyPart;
  startEvent: ProbeEvent;
  startNs: bigint;
  deadlineNs: bigint;
  errorMessage: string | undefined;
  events: SpanEvent[] | undefined;
  /** The next older open span with the same key (nested spans form a stack). */
  below: OpenSpan | undefined;
  /** Neighbours in start order (the rule's open list, oldest first). */
  older: OpenSpan | undefined;
  newer: OpenSpan | undefined;
  /** Its strings are its own (see {@linkcode detach}). */
  detached: boolean;
}

interface PendingEnd {
  k1: KeyPart;
  k2: KeyPart;
  event: ProbeEvent;
  deadlineNs: bigint;
  /** Set for a waiting error event: the index of its rule. */
  errorIndex?: number;
}

/** A span rule with its state: open spans and waiting events. */
interface CompiledSpan extends SpanRule {
  /** The top of each key's stack of open spans. */
  open: KeyTable<OpenSpan>;
  /** Open spans in start order: oldest and newest, and how many. */
  oldest: OpenSpan | undefined;
  newest: OpenSpan | undefined;
  openCount: number;
  pendingEnds: KeyTable<PendingEnd[]>;
  /** Error events whose start has not arrived yet. */
  pendingErrors: KeyTable<PendingEnd[]>;
  /** Waiting ends and errors in arrival order. */
  pendingOrder: Set<PendingEnd>;
}

/** A span builder for one probe spec. */
export function createSpanBuilder(options: SpanBuilderOptions): SpanBuilder {
  const { spec, clocks } = options;
  const now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n);
  const reorderNs = options.reorderWindowNs ?? 5_000_000_000n;
  const indexes = fieldIndexes(spec);
  const rules: CompiledSpan[] = spec.spans.map((s) => ({
    ...compileSpanRule(s, spec, indexes),
    open: createKeyTable(s.key.length),
    oldest: undefined,
    newest: undefined,
    openCount: 0,
    pendingEnds: createKeyTable(s.key.length),
    pendingErrors: createKeyTable(s.key.length),
    pendingOrder: new Set(),
  }));
  const byEvent = eventTargets(rules, spec);

  // The key of the event being handled (set by keyOf; no allocation per event).
  let k1: KeyPart = "";
  let k2: KeyPart = "";
  function keyOf(idx: number[], e: ProbeEvent): void {
    const v = e.values;
    k1 = keyPartOf(v[idx[0]]);
    if (idx.length === 1) k2 = "";
    else if (idx.length === 2) k2 = keyPartOf(v[idx[1]]);
    else k2 = foldKeyParts(idx.slice(1).map((i) => keyPartOf(v[i])));
  }

  function timeOf(t: CompiledTime, e: ProbeEvent): bigint {
    if (t === "arrival") return e.arrivalNs;
    const ns = e.values[t.index] as bigint;
    return t.clock === "realtime" ? ns : clocks.toWall(t.clock, ns);
  }

  // The events of the span being finished, read by `get` (templates, resources).
  let cur0: ProbeEvent | undefined;
  let cur1: ProbeEvent | undefined;
  const get = (name: string): FieldValue | undefined => {
    if (cur0) {
      const i = indexes.get(cur0.spec)!.get(name);
      if (i !== undefined) return cur0.values[i];
      if (cur1) {
        const j = indexes.get(cur1.spec)!.get(name);
        if (j !== undefined) return cur1.values[j];
      }
    }
    return undefined;
  };
  const getTemplate = get as (f: string) => TemplateValue;

  /** A finished span from `first` (and `second`, whose fields come after the first's). */
  function finish(
    rule: CompiledSpan,
    first: ProbeEvent,
    second: ProbeEvent | undefined,
    startNs: bigint,
    endNs: bigint,
    open: OpenSpan | undefined,
    incomplete?: IncompleteReason,
  ): SpanData {
    const s = rule.spec;
    const plan = finishPlan(rule, first.spec, second ? second.spec : null, indexes);
    cur0 = first;
    cur1 = second;
    const v0 = first.values;
    const v1 = second?.values;
    const attributes: Attributes = {};
    for (const a of plan.attributes) {
      if (a.event === 0) attributes[a.name] = v0[a.index];
      else if (a.event === 1) attributes[a.name] = v1![a.index];
      else if ("template" in a.source) attributes[a.name] = a.source.template.render(getTemplate);
      else if ("constant" in a.source) attributes[a.name] = a.source.constant;
    }
    let status: SpanStatus = UNSET_STATUS;
    const errorMessage = open?.errorMessage;
    if (errorMessage !== undefined) {
      status = { code: StatusCode.ERROR, message: errorMessage };
    } else {
      for (const c of plan.errorWhen) {
        if (c.event < 0) continue;
        const v = c.event === 0 ? v0[c.index] : v1![c.index];
        if (matches(c.condition, v)) {
          status = { code: StatusCode.ERROR, message: `${c.condition.field}=${displayValue(v)}` };
          break;
        }
      }
    }
    if (incomplete) {
      attributes["spanprobe.incomplete"] = incomplete;
      status = {
        code: StatusCode.ERROR,
        message: incomplete === "shutdown"
          ? "span still open when the agent stopped"
          : incomplete === "ttl"
          ? `no end event within ${s.ttlNs / 1_000_000n} ms`
          : `open-span limit (${s.maxOpen}) reached; evicted oldest`,
      };
    }
    const span: SpanData = {
      traceId: newTraceId(),
      spanId: newSpanId(),
      name: s.name.render(getTemplate),
      kind: s.kind,
      startNs,
      endNs: endNs < startNs ? startNs : endNs,
      attributes,
      status,
      resource: options.resourceFor(get),
    };
    cur0 = cur1 = undefined;
    if (open?.events?.length) span.events = open.events;
    return span;
  }

  function complete(rule: CompiledSpan, e: ProbeEvent): SpanData {
    const startNs = timeOf(rule.completeStart!, e);
    let endNs = startNs;
    if (rule.completeDuration !== undefined) endNs = startNs + asBigInt(e.values[rule.completeDuration]);
    else if (rule.completeEnd) endNs = timeOf(rule.completeEnd, e);
    return finish(rule, e, undefined, startNs, endNs, undefined);
  }

  function endOpen(rule: CompiledSpan, open: OpenSpan, e: ProbeEvent): SpanData {
    const startNs = rule.endStart ? timeOf(rule.endStart, e) : open.startNs;
    const endNs = rule.endDuration !== undefined
      ? startNs + asBigInt(e.values[rule.endDuration])
      : timeOf(rule.endTime!, e);
    return finish(rule, e, open.startEvent, startNs, endNs, open);
  }

  /**
   * Gives a long-open span its own copies of the strings it holds: strings
   * from probe output are views into their whole batch of output (see
   * own_string.ts), and a span open for long would keep that batch alive.
   * Done by the sweep for spans open longer than {@linkcode DETACH_AFTER_NS},
   * not at start: most spans end within microseconds.
   */
  function detach(rule: CompiledSpan, open: OpenSpan): void {
    open.detached = true;
    ownStrings(open.startEvent.values);
    if (open.errorMessage !== undefined) open.errorMessage = ownString(open.errorMessage);
    for (const ev of open.events ?? []) {
      if (ev.attributes) ownAttributes(ev.attributes);
    }
    const k1 = typeof open.k1 === "string" ? ownString(open.k1) : open.k1;
    const k2 = typeof open.k2 === "string" ? ownString(open.k2) : open.k2;
    if (k1 === open.k1 && k2 === open.k2) return;
    const top = rule.open.get(open.k1, open.k2)!;
    rule.open.rekey(open.k1, open.k2, k1, k2);
    for (let s: OpenSpan | undefined = top; s; s = s.below) {
      s.k1 = k1;
      s.k2 = k2;
    }
  }

  /** Unlinks `open` from the start-order list. */
  function unlinkOrder(rule: CompiledSpan, open: OpenSpan): void {
    if (open.older) open.older.newer = open.newer;
    else rule.oldest = open.newer;
    if (open.newer) open.newer.older = open.older;
    else rule.newest = open.older;
    open.older = open.newer = undefined;
    rule.openCount--;
  }

  /** Removes `open` from its key's stack and from the start order. */
  function remove(rule: CompiledSpan, open: OpenSpan): void {
    const top = rule.open.get(open.k1, open.k2)!;
    if (top === open) {
      if (open.below) rule.open.set(open.k1, open.k2, open.below);
      else rule.open.delete(open.k1, open.k2);
    } else {
      let above = top;
      while (above.below !== open) above = above.below!;
      above.below = open.below;
    }
    open.below = undefined;
    unlinkOrder(rule, open);
  }

  function evict(rule: CompiledSpan, open: OpenSpan, reason: IncompleteReason, out: SpanData[]): void {
    remove(rule, open);
    const span = finish(rule, open.startEvent, undefined, open.startNs, now(), open, reason);
    options.onIncomplete?.(reason, span);
    out.push(span);
  }

  function start(rule: CompiledSpan, keyIndexes: number[], e: ProbeEvent, out: SpanData[]): void {
    keyOf(keyIndexes, e);
    const a = k1;
    const b = k2;
    options.onSpanStarted?.();
    const open: OpenSpan = {
      k1: a,
      k2: b,
      startEvent: e,
      startNs: timeOf(rule.startTime!, e),
      deadlineNs: e.arrivalNs + rule.spec.ttlNs,
      errorMessage: undefined,
      events: undefined,
      below: undefined,
      older: undefined,
      newer: undefined,
      detached: false,
    };
    const errors = rule.pendingErrors.size !== 0 ? rule.pendingErrors.get(a, b) : undefined;
    if (errors) {
      for (const p of [...errors]) {
        unwait(rule, p);
        markError(rule, open, p.event, p.errorIndex!);
      }
    }
    const pending = rule.pendingEnds.size !== 0 ? rule.pendingEnds.get(a, b) : undefined;
    if (pending) {
      const p = pending[0];
      unwait(rule, p);
      out.push(endOpen(rule, open, p.event));
      return;
    }
    if (rule.openCount >= rule.spec.maxOpen && rule.oldest) evict(rule, rule.oldest, "overflow", out);
    open.below = rule.open.swap(a, b, open);
    open.older = rule.newest;
    if (rule.newest) rule.newest.newer = open;
    else rule.oldest = open;
    rule.newest = open;
    rule.openCount++;
  }

  function end(rule: CompiledSpan, keyIndexes: number[], e: ProbeEvent, out: SpanData[]): void {
    keyOf(keyIndexes, e);
    const open = rule.open.take(k1, k2);
    if (open) {
      if (open.below) rule.open.set(k1, k2, open.below);
      open.below = undefined;
      unlinkOrder(rule, open);
      out.push(endOpen(rule, open, e));
      return;
    }
    waitFor(rule, rule.pendingEnds, { k1, k2, event: e, deadlineNs: e.arrivalNs + reorderNs });
  }

  function error(rule: CompiledSpan, keyIndexes: number[], e: ProbeEvent, errorIndex: number): void {
    keyOf(keyIndexes, e);
    const open = rule.open.get(k1, k2);
    if (!open) {
      // its start may still be on its way (per-CPU reordering): wait like an end
      waitFor(rule, rule.pendingErrors, { k1, k2, event: e, deadlineNs: e.arrivalNs + reorderNs, errorIndex });
      return;
    }
    markError(rule, open, e, errorIndex);
  }

  function markError(rule: CompiledSpan, open: OpenSpan, e: ProbeEvent, errorIndex: number): void {
    const er = rule.spec.errors[errorIndex];
    cur0 = e;
    cur1 = undefined;
    open.errorMessage = er.message ? er.message.render(getTemplate) : e.spec.name;
    if (open.detached) open.errorMessage = ownString(open.errorMessage);
    cur0 = undefined;
    (open.events ??= []).push({
      name: EVENT_EXCEPTION,
      timeNs: timeOf(rule.errorTimes[errorIndex], e),
      attributes: {
        [ATTR_EXCEPTION_MESSAGE]: open.errorMessage,
        "spanprobe.event": e.spec.name,
      },
    });
  }

  function waitFor(rule: CompiledSpan, table: KeyTable<PendingEnd[]>, p: PendingEnd): void {
    ownStrings(p.event.values); // it may wait up to the reorder window
    if (typeof p.k1 === "string") p.k1 = ownString(p.k1);
    if (typeof p.k2 === "string") p.k2 = ownString(p.k2);
    const list = table.get(p.k1, p.k2);
    if (list) list.push(p);
    else table.set(p.k1, p.k2, [p]);
    rule.pendingOrder.add(p);
  }

  function unwait(rule: CompiledSpan, p: PendingEnd): void {
    const table = p.errorIndex === undefined ? rule.pendingEnds : rule.pendingErrors;
    const list = table.get(p.k1, p.k2)!;
    list.splice(list.indexOf(p), 1);
    if (list.length === 0) table.delete(p.k1, p.k2);
    rule.pendingOrder.delete(p);
  }

  function clearRule(rule: CompiledSpan): void {
    rule.open.clear();
    rule.oldest = rule.newest = undefined;
    rule.openCount = 0;
    rule.pendingEnds.clear();
    rule.pendingErrors.clear();
    rule.pendingOrder.clear();
  }

  return {
    add(events) {
      const out: SpanData[] = [];
      for (let i = 0; i < events.length; i++) {
        const e = events[i];
        const targets = byEvent.get(e.spec.name);
        if (!targets) continue;
        for (let j = 0; j < targets.length; j++) {
          const t = targets[j];
          switch (t.role) {
            case "complete":
              out.push(complete(t.rule, e));
              break;
            case "start":
              start(t.rule, t.keyIndexes, e, out);
              break;
            case "end":
              end(t.rule, t.keyIndexes, e, out);
              break;
            case "error":
              error(t.rule, t.keyIndexes, e, t.errorIndex);
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
        while (rule.oldest && rule.oldest.deadlineNs <= t) evict(rule, rule.oldest, "ttl", out);
        for (let o = rule.oldest; o && o.startEvent.arrivalNs <= t - DETACH_AFTER_NS; o = o.newer) {
          if (!o.detached) detach(rule, o);
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
        while (rule.oldest) evict(rule, rule.oldest, "shutdown", out);
        for (const p of rule.pendingOrder) options.onOrphan?.(p.event.spec.name);
        clearRule(rule);
      }
      return out;
    },
    discard() {
      let n = 0;
      for (const rule of rules) {
        n += rule.openCount;
        clearRule(rule);
      }
      return n;
    },
    openCount() {
      let n = 0;
      for (const r of rules) n += r.openCount;
      return n;
    },
  };
}

/** Spans open longer than this get their own copies of their strings (1 s). */
const DETACH_AFTER_NS = 1_000_000_000n;

function ownAttributes(attributes: Attributes): void {
  for (const k in attributes) {
    const v = attributes[k];
    if (typeof v === "string") attributes[k] = ownString(v);
  }
}

const UNSET_STATUS: SpanStatus = Object.freeze({ code: StatusCode.UNSET });

function displayValue(v: FieldValue): string {
  return v instanceof Uint8Array ? `${v.length} bytes` : String(v);
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
