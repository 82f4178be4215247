/**
 * Probe specs: the YAML beside a bpftrace script that says how its events
 * become spans. Format: docs/probe-spec.md. Every error names the file, the
 * line and what to do.
 * @module
 */
import { dirname, join } from "node:path";
import { FIELD_TYPES, type FieldType } from "../core/fields.ts";
import { SpanKind, type SpanKindValue } from "../core/span_data.ts";
import { specFileNameProblem } from "./spec_files.ts";
import { readConfigText } from "./text_file.ts";
import { compileTemplate, type Template } from "./template.ts";
import {
  knownKeys,
  mapEntries,
  parseYamlSource,
  scalarValue,
  seqItems,
  stringValue,
  type YamlSource,
} from "./yaml_source.ts";

/** How a key field compares: integers (of any integer or time type) with integers, strings with strings. */
function keyKind(type: FieldType): "string" | "bool" | "integer" {
  return type === "string" ? "string" : type === "bool" ? "bool" : "integer";
}

/** One event layout: `print(("name", f1, f2, ...))`. */
export interface EventSpec {
  name: string;
  /** Field names and types in tuple order (after the event name). */
  fields: { name: string; type: FieldType }[];
}

/** Where a time comes from: a field of the event, or its arrival. */
export type TimeSource = { field: string } | "arrival";

/** A span-start event rule. */
export interface StartRule {
  event: string;
  time: TimeSource;
}

/** A span-end event rule: an end time, or a duration after the start. */
export interface EndRule {
  event: string;
  time?: TimeSource;
  duration?: string;
  /** Field that overrides the span's start time (e.g. the seed's `start_ns`). */
  start?: string;
}

/** A one-event span: start plus duration or end, or an instant. */
export interface CompleteRule {
  event: string;
  start: TimeSource;
  duration?: string;
  end?: string;
}

/** An event that marks the open span with the same key as failed. */
export interface ErrorRule {
  event: string;
  message?: Template;
  /** When the error happened (the `exception` span event's time); arrival by default. */
  time: TimeSource;
}

/** A field comparison that sets error status. */
export interface StatusCondition {
  field: string;
  op: ">=" | ">" | "<=" | "<" | "==" | "!=";
  value: number | string | boolean;
}

/** How an attribute value is produced. */
export type AttributeSource =
  | { field: string }
  | { template: Template }
  | { constant: string | number | boolean };

/** One span definition. */
export interface SpanSpec {
  name: Template;
  kind: SpanKindValue;
  /** Correlation key fields (paired spans). */
  key: string[];
  start?: StartRule;
  end?: EndRule;
  complete?: CompleteRule;
  errors: ErrorRule[];
  errorWhen: StatusCondition[];
  attributes: [string, AttributeSource][];
  /** Open spans older than this (ns) are evicted. */
  ttlNs: bigint;
  /** Most spans open at once for this definition. */
  maxOpen: number;
}

/** A script parameter. */
export interface ParamSpec {
  name: string;
  type: "pid" | "path" | "identifier" | "int" | "string";
  required: boolean;
  default?: string;
  description?: string;
}

/** A complete, validated probe spec. */
export interface ProbeSpec {
  name: string;
  description: string;
  specPath: string;
  scriptPath: string;
  params: ParamSpec[];
  events: Map<string, EventSpec>;
  spans: SpanSpec[];
  /** Service name for the resource, if the spec sets one. */
  service?: string;
  /** Span attributes that become metric attributes too (`metrics.attributes`; docs/metrics.md). */
  metricAttributes: string[];
}

const PARAM_TYPES = ["pid", "path", "identifier", "int", "string"] as const;
const KINDS: Record<string, SpanKindValue> = {
  internal: SpanKind.INTERNAL,
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};
const OPS = [">=", ">", "<=", "<", "==", "!="] as const;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Event names the agent reserves for itself. */
export const RESERVED_EVENT_PREFIX = "__spanprobe";

/** Parses a duration such as `30s`, `500ms`, `5m`, `1h` into ns. */
export function parseDuration(text: string): bigint | undefined {
  const m = /^(\d+)(ns|us|ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = {
    ns: 1n,
    us: 1000n,
    ms: 1_000_000n,
    s: 1_000_000_000n,
    m: 60_000_000_000n,
    h: 3_600_000_000_000n,
  }[m[2]]!;
  return BigInt(m[1]) * unit;
}

/** The value of a required key of a mapping; a missing key is reported at the mapping. */
function need(
  src: YamlSource,
  entries: Map<string, { value: unknown }>,
  key: string,
  parent: unknown,
  what: string,
): unknown {
  const entry = entries.get(key);
  if (entry === undefined) throw src.error(parent, `${what} is required`);
  return entry.value;
}

function parseParams(src: YamlSource, node: unknown): ParamSpec[] {
  if (node === undefined || node === null) return [];
  return mapEntries(src, node, "params").map(([name, keyNode, value]) => {
    if (!IDENT.test(name)) {
      throw src.error(
        keyNode,
        `parameter name "${name}" must be an identifier`,
      );
    }
    const keys = knownKeys(src, value, `params.${name}`, [
      "type",
      "required",
      "default",
      "description",
    ]);
    const typeNode = keys.get("type")?.value;
    const type = typeNode === undefined ? "string" : stringValue(src, typeNode, `params.${name}.type`);
    if (!(PARAM_TYPES as readonly string[]).includes(type)) {
      throw src.error(
        typeNode,
        `params.${name}.type must be one of ${PARAM_TYPES.join(", ")}`,
      );
    }
    const req = keys.get("required");
    const required = req ? scalarValue(src, req.value, `params.${name}.required`) === true : false;
    const def = keys.get("default");
    const description = keys.get("description");
    return {
      name,
      type: type as ParamSpec["type"],
      required,
      default: def ? String(scalarValue(src, def.value, `params.${name}.default`)) : undefined,
      description: description ? stringValue(src, description.value, `params.${name}.description`) : undefined,
    };
  });
}

function parseEvents(src: YamlSource, node: unknown): Map<string, EventSpec> {
  const events = new Map<string, EventSpec>();
  for (const [name, keyNode, value] of mapEntries(src, node, "events")) {
    if (!IDENT.test(name)) {
      throw src.error(keyNode, `event name "${name}" must be an identifier`);
    }
    if (name.startsWith(RESERVED_EVENT_PREFIX)) {
      throw src.error(
        keyNode,
        `event names starting with ${RESERVED_EVENT_PREFIX} are reserved`,
      );
    }
    const fields = mapEntries(src, value, `events.${name}`).map(
      ([field, fieldKey, typeNode]) => {
        if (!IDENT.test(field)) {
          throw src.error(
            fieldKey,
            `field name "${field}" must be an identifier`,
          );
        }
        const type = stringValue(src, typeNode, `events.${name}.${field}`);
        if (!(FIELD_TYPES as readonly string[]).includes(type)) {
          throw src.error(
            typeNode,
            `unknown field type "${type}" (expected one of: ${FIELD_TYPES.join(", ")})`,
          );
        }
        return { name: field, type: type as FieldType };
      },
    );
    events.set(name, { name, fields });
  }
  if (events.size === 0) {
    throw src.error(node, "events must declare at least one event");
  }
  return events;
}

/** Validates spans against the declared events. */
class SpanParser {
  constructor(
    readonly src: YamlSource,
    readonly events: Map<string, EventSpec>,
  ) {}

  event(node: unknown, what: string): EventSpec {
    const name = stringValue(this.src, node, what);
    const ev = this.events.get(name);
    if (!ev) {
      throw this.src.error(
        node,
        `${what}: unknown event "${name}" (declared: ${[...this.events.keys()].join(", ")})`,
      );
    }
    return ev;
  }

  field(
    ev: EventSpec,
    node: unknown,
    what: string,
    types?: FieldType[],
  ): string {
    const name = stringValue(this.src, node, what);
    const f = ev.fields.find((x) => x.name === name);
    if (!f) {
      throw this.src.error(
        node,
        `${what}: event "${ev.name}" has no field "${name}" (fields: ${ev.fields.map((x) => x.name).join(", ")})`,
      );
    }
    if (types && !types.includes(f.type)) {
      throw this.src.error(
        node,
        `${what}: field "${name}" is ${f.type}, expected ${types.join(" or ")}`,
      );
    }
    return name;
  }

  time(ev: EventSpec, node: unknown, what: string): TimeSource {
    if (node === undefined) return "arrival";
    const v = stringValue(this.src, node, what);
    if (v === "arrival") return "arrival";
    return {
      field: this.field(ev, node, what, [
        "realtime_ns",
        "boottime_ns",
        "monotonic_ns",
      ]),
    };
  }

  template(node: unknown, what: string, fieldsOf: EventSpec[]): Template {
    const text = stringValue(this.src, node, what);
    try {
      return compileTemplate(
        text,
        new Set(fieldsOf.flatMap((e) => e.fields.map((f) => f.name))),
      );
    } catch (e) {
      throw this.src.error(node, `${what}: ${(e as Error).message}`);
    }
  }

  span(node: unknown, index: number): SpanSpec {
    const src = this.src;
    const at = `spans[${index}]`;
    const k = knownKeys(src, node, at, [
      "name",
      "kind",
      "key",
      "start",
      "end",
      "complete",
      "errors",
      "error_when",
      "attributes",
      "ttl",
      "max_open",
    ]);
    const { start, end, complete, used } = this.spanEvents(k, node, at);
    // fields a span's name, attributes and status read: its start/end/complete
    // events (an error event only marks the span; its fields feed its message)
    const core = [...used];
    const errors = this.errorRules(k.get("errors")?.value, at, used);
    const needField = this.fieldChecker(core);
    const key = this.key(k.get("key")?.value, at, used);
    if (start && key.length === 0) {
      throw src.error(
        node,
        `${at}: a paired span needs key: the fields that match its start and end events (e.g. [pid, reqid])`,
      );
    }
    const errorWhen = this.errorWhen(k.get("error_when")?.value, at, needField);
    const attributes = this.attributes(k.get("attributes")?.value, at, core, needField);
    const { kind, ttlNs, maxOpen } = this.limits(k, at);
    const nameNode = k.get("name")?.value;
    if (nameNode === undefined) {
      throw src.error(
        node,
        `${at}: name is required (a template such as "GET {path}")`,
      );
    }
    return {
      name: this.template(nameNode, `${at}.name`, core),
      kind,
      key,
      start,
      end,
      complete,
      errors,
      errorWhen,
      attributes,
      ttlNs,
      maxOpen,
    };
  }

  /** The span's events: start + end, or complete (exactly one of the two forms). */
  spanEvents(
    k: Map<string, { value: unknown }>,
    node: unknown,
    at: string,
  ): { start?: StartRule; end?: EndRule; complete?: CompleteRule; used: EventSpec[] } {
    const src = this.src;
    const startNode = k.get("start")?.value;
    const endNode = k.get("end")?.value;
    const completeNode = k.get("complete")?.value;
    if (
      completeNode !== undefined &&
      (startNode !== undefined || endNode !== undefined)
    ) {
      throw src.error(
        node,
        `${at}: use either start + end (a paired span) or complete (a one-event span), not both`,
      );
    }
    if (
      completeNode === undefined &&
      (startNode === undefined || endNode === undefined)
    ) {
      throw src.error(
        node,
        `${at}: a span needs start and end events, or a complete event`,
      );
    }
    const used: EventSpec[] = [];
    let start: StartRule | undefined;
    let end: EndRule | undefined;
    let complete: CompleteRule | undefined;
    if (completeNode !== undefined) {
      const c = knownKeys(src, completeNode, `${at}.complete`, [
        "event",
        "start",
        "duration",
        "end",
      ]);
      const ev = this.event(
        need(src, c, "event", completeNode, `${at}.complete.event`),
        `${at}.complete.event`,
      );
      used.push(ev);
      const dur = c.get("duration")?.value;
      const endField = c.get("end")?.value;
      if (dur !== undefined && endField !== undefined) {
        throw src.error(
          completeNode,
          `${at}.complete: give duration or end, not both`,
        );
      }
      complete = {
        event: ev.name,
        start: this.time(ev, c.get("start")?.value, `${at}.complete.start`),
        duration: dur === undefined ? undefined : this.field(ev, dur, `${at}.complete.duration`, [
          "duration_ns",
          "int",
        ]),
        end: endField === undefined ? undefined : this.field(ev, endField, `${at}.complete.end`, [
          "realtime_ns",
          "boottime_ns",
          "monotonic_ns",
        ]),
      };
    } else {
      const s = knownKeys(src, startNode, `${at}.start`, ["event", "time"]);
      const sev = this.event(
        need(src, s, "event", startNode, `${at}.start.event`),
        `${at}.start.event`,
      );
      start = {
        event: sev.name,
        time: this.time(sev, s.get("time")?.value, `${at}.start.time`),
      };
      const e = knownKeys(src, endNode, `${at}.end`, [
        "event",
        "time",
        "duration",
        "start",
      ]);
      const eev = this.event(
        need(src, e, "event", endNode, `${at}.end.event`),
        `${at}.end.event`,
      );
      const dur = e.get("duration")?.value;
      const t = e.get("time")?.value;
      if (dur !== undefined && t !== undefined) {
        throw src.error(endNode, `${at}.end: give time or duration, not both`);
      }
      const st = e.get("start")?.value;
      end = {
        event: eev.name,
        time: dur === undefined ? this.time(eev, t, `${at}.end.time`) : undefined,
        duration: dur === undefined ? undefined : this.field(eev, dur, `${at}.end.duration`, ["duration_ns", "int"]),
        start: st === undefined ? undefined : this.field(eev, st, `${at}.end.start`, [
          "realtime_ns",
          "boottime_ns",
          "monotonic_ns",
        ]),
      };
      used.push(sev, eev);
    }
    return { start, end, complete, used };
  }

  /** `errors:` — events that mark an open span as failed (each added to `used`). */
  errorRules(errorsNode: unknown, at: string, used: EventSpec[]): ErrorRule[] {
    const src = this.src;
    const errors: ErrorRule[] = [];
    if (errorsNode !== undefined) {
      for (const item of seqItems(src, errorsNode, `${at}.errors`)) {
        const ek = knownKeys(src, item, `${at}.errors[]`, ["event", "message", "time"]);
        const ev = this.event(
          need(src, ek, "event", item, `${at}.errors[].event`),
          `${at}.errors[].event`,
        );
        const msg = ek.get("message")?.value;
        errors.push({
          event: ev.name,
          message: msg === undefined ? undefined : this.template(msg, `${at}.errors[].message`, [ev]),
          time: this.time(ev, ek.get("time")?.value, `${at}.errors[].time`),
        });
        used.push(ev);
      }
    }
    return errors;
  }

  /** A check that a name is a field of the span's own events (`core`); returns the name. */
  fieldChecker(core: EventSpec[]): (n: unknown, what: string) => string {
    const src = this.src;
    const fieldNames = new Set(
      core.flatMap((e) => e.fields.map((f) => f.name)),
    );
    return (n: unknown, what: string) => {
      const name = stringValue(src, n, what);
      if (!fieldNames.has(name)) {
        throw src.error(
          n,
          `${what}: neither the start/end nor the complete event of this span has a field "${name}" (fields: ${
            [...fieldNames].join(", ")
          })`,
        );
      }
      return name;
    };
  }

  /** `key:` — fields present, with one kind, in every event of the span. */
  key(keyNode: unknown, at: string, used: EventSpec[]): string[] {
    const src = this.src;
    let key: string[] = [];
    if (keyNode !== undefined) {
      key = seqItems(src, keyNode, `${at}.key`).map((n) => {
        const name = stringValue(src, n, `${at}.key[]`);
        let first: { event: string; type: FieldType } | undefined;
        for (const ev of used) {
          const field = ev.fields.find((f) => f.name === name);
          if (!field) {
            throw src.error(
              n,
              `${at}.key: event "${ev.name}" has no field "${name}"; every event of a span must carry its key fields`,
            );
          }
          first ??= { event: ev.name, type: field.type };
          if (keyKind(field.type) !== keyKind(first.type)) {
            throw src.error(
              n,
              `${at}.key: field "${name}" is ${field.type} in event "${ev.name}" but ${first.type} in event "${first.event}"; a key field must be a string, an integer or a bool in every event alike`,
            );
          }
        }
        return name;
      });
    }
    return key;
  }

  /** `error_when:` — field conditions that give a span error status. */
  errorWhen(ewNode: unknown, at: string, needField: (n: unknown, what: string) => string): StatusCondition[] {
    const src = this.src;
    const errorWhen: StatusCondition[] = [];
    if (ewNode !== undefined) {
      for (const item of seqItems(src, ewNode, `${at}.error_when`)) {
        const c = knownKeys(src, item, `${at}.error_when[]`, [
          "field",
          "op",
          "value",
        ]);
        const field = needField(
          need(src, c, "field", item, `${at}.error_when[].field`),
          `${at}.error_when[].field`,
        );
        const opNode = c.get("op")?.value;
        const op = opNode === undefined ? ">=" : stringValue(src, opNode, `${at}.error_when[].op`);
        if (!(OPS as readonly string[]).includes(op)) {
          throw src.error(opNode, `op must be one of ${OPS.join(" ")}`);
        }
        const valueNode = need(src, c, "value", item, `${at}.error_when[].value`);
        const value = scalarValue(src, valueNode, `${at}.error_when[].value`);
        if (
          typeof value !== "number" && typeof value !== "string" &&
          typeof value !== "boolean"
        ) {
          throw src.error(
            valueNode,
            `${at}.error_when[].value must be a number, string or boolean`,
          );
        }
        errorWhen.push({ field, op: op as StatusCondition["op"], value });
      }
    }
    return errorWhen;
  }

  /** `attributes:` — each a field, a `{template}` over the span's events, or a constant. */
  attributes(
    attrNode: unknown,
    at: string,
    core: EventSpec[],
    needField: (n: unknown, what: string) => string,
  ): [string, AttributeSource][] {
    const src = this.src;
    const attributes: [string, AttributeSource][] = [];
    if (attrNode !== undefined) {
      for (
        const [attr, , valueNode] of mapEntries(
          src,
          attrNode,
          `${at}.attributes`,
        )
      ) {
        const v = scalarValue(src, valueNode, `${at}.attributes.${attr}`);
        if (typeof v === "string" && v.includes("{")) {
          attributes.push([attr, {
            template: this.template(
              valueNode,
              `${at}.attributes.${attr}`,
              core,
            ),
          }]);
        } else if (typeof v === "string") {
          attributes.push([attr, {
            field: needField(valueNode, `${at}.attributes.${attr}`),
          }]);
        } else if (typeof v === "number" || typeof v === "boolean") {
          attributes.push([attr, { constant: v }]);
        } else {
          throw src.error(
            valueNode,
            `${at}.attributes.${attr}: expected a field name, a "{template}" or a constant`,
          );
        }
      }
    }
    return attributes;
  }

  /** `kind:`, `ttl:` and `max_open:`, with their defaults. */
  limits(k: Map<string, { value: unknown }>, at: string): { kind: SpanKindValue; ttlNs: bigint; maxOpen: number } {
    const src = this.src;
    const kindNode = k.get("kind")?.value;
    const kindName = kindNode === undefined ? "internal" : stringValue(src, kindNode, `${at}.kind`);
    const kind = KINDS[kindName];
    if (kind === undefined) {
      throw src.error(
        kindNode,
        `${at}.kind must be one of ${Object.keys(KINDS).join(", ")}`,
      );
    }
    const ttlNode = k.get("ttl")?.value;
    let ttlNs = 60_000_000_000n;
    if (ttlNode !== undefined) {
      const parsed = parseDuration(
        String(scalarValue(src, ttlNode, `${at}.ttl`)),
      );
      if (parsed === undefined || parsed <= 0n) {
        throw src.error(
          ttlNode,
          `${at}.ttl must be a duration such as 30s, 500ms, 5m`,
        );
      }
      ttlNs = parsed;
    }
    const maxNode = k.get("max_open")?.value;
    let maxOpen = 100_000;
    if (maxNode !== undefined) {
      const v = scalarValue(src, maxNode, `${at}.max_open`);
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
        throw src.error(maxNode, `${at}.max_open must be a positive integer`);
      }
      maxOpen = v;
    }
    return { kind, ttlNs, maxOpen };
  }
}

/** Parses and validates a probe spec from its text. Throws UserError (exit 2) with file:line. */
export function parseProbeSpec(specPath: string, text: string): ProbeSpec {
  const src = parseYamlSource(specPath, text);
  const top = knownKeys(src, src.root, "the probe spec", [
    "name",
    "description",
    "script",
    "service",
    "params",
    "events",
    "spans",
    "metrics",
  ]);
  const base = specPath.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
  const nameNode = top.get("name")?.value;
  const name = nameNode === undefined ? base : stringValue(src, nameNode, "name");
  const scriptNode = top.get("script")?.value;
  const script = scriptNode === undefined ? `${base}.bt` : stringValue(src, scriptNode, "script");
  const scriptProblem = specFileNameProblem(script);
  if (scriptProblem) throw src.error(scriptNode ?? src.root, `script ${JSON.stringify(script)} ${scriptProblem}`);
  const eventsNode = top.get("events")?.value;
  if (eventsNode === undefined) {
    throw src.error(
      src.root,
      "events is required: the tuples the script prints",
    );
  }
  const events = parseEvents(src, eventsNode);
  const spansNode = top.get("spans")?.value;
  if (spansNode === undefined) {
    throw src.error(src.root, "spans is required: how events become spans");
  }
  const parser = new SpanParser(src, events);
  const spans = seqItems(src, spansNode, "spans").map((n, i) => parser.span(n, i));
  if (spans.length === 0) {
    throw src.error(spansNode, "spans must define at least one span");
  }
  const descNode = top.get("description")?.value;
  const serviceNode = top.get("service")?.value;
  const metricAttributes = parseMetrics(src, top.get("metrics")?.value, spans);
  return {
    name,
    description: descNode === undefined ? "" : stringValue(src, descNode, "description"),
    specPath,
    scriptPath: join(dirname(specPath), script),
    params: parseParams(src, top.get("params")?.value),
    events,
    spans,
    service: serviceNode === undefined ? undefined : stringValue(src, serviceNode, "service"),
    metricAttributes,
  };
}

/** `metrics: {attributes: [...]}`: span attributes (set by some span definition) that become metric attributes. */
function parseMetrics(src: YamlSource, node: unknown, spans: SpanSpec[]): string[] {
  if (node === undefined || node === null) return [];
  const k = knownKeys(src, node, "metrics", ["attributes"]);
  const attrNode = k.get("attributes")?.value;
  if (attrNode === undefined) return [];
  const declared = new Set(spans.flatMap((s) => s.attributes.map(([name]) => name)));
  const names: string[] = [];
  for (const item of seqItems(src, attrNode, "metrics.attributes")) {
    const name = stringValue(src, item, "metrics.attributes[]");
    if (!declared.has(name)) {
      throw src.error(
        item,
        `metrics.attributes: no span of this spec sets the attribute "${name}" (attributes: ${
          [...declared].join(", ") || "none"
        })`,
      );
    }
    if (names.includes(name)) throw src.error(item, `metrics.attributes: "${name}" is listed twice`);
    names.push(name);
  }
  return names;
}

/** Reads and parses a spec file. Throws UserError (exit 2) naming the file on any problem. */
export function loadProbeSpec(specPath: string): Promise<ProbeSpec> {
  return Promise.resolve().then(() => parseProbeSpec(specPath, readConfigText(specPath, "probe spec")));
}
