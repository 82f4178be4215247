/**
 * The spans config of ring-buffer probes (ebpf_exporter's tracing model):
 *
 * ```yaml
 * tracing:
 *   spans:
 *     - name: exec              # span name (default: the ring buffer's name)
 *       ringbuf: exec_spans     # BPF_MAP_TYPE_RINGBUF map to read
 *       service: exec-trace     # service.name (optional)
 *       labels:                 # the record, field by field
 *         - name: trace_id
 *           size: 16
 *           decoders: [{ name: hex }]
 *         - ...
 *   attach:                     # optional: targets of programs whose SEC() names none
 *     - program: request_start
 *       usdt: { binary: ./demo, provider: demo, name: request_start }
 * ```
 *
 * Special labels: `trace_id` (16 bytes), `parent_span_id` (8), `span_id` (8),
 * `span_monotonic_timestamp_ns` (8), `span_duration_ns` (8), `span_name`, and
 * spanprobe's `span_status_code` (0 unset, 1 ok, 2 error: a failed kernel
 * operation can mark its span failed). Every other label becomes an attribute.
 * @module
 */
import { isMap, isScalar, isSeq } from "yaml";
import type { AttachTarget } from "../ffi/bpf_object.ts";
import { createDecoder, type DecoderConfig } from "../decoders/mod.ts";
import { readConfigText } from "./text_file.ts";
import { knownKeys, parseYamlSource, scalarValue, seqItems, stringValue, type YamlSource } from "./yaml_source.ts";

/** One field of a record. */
export interface LabelConfig {
  name: string;
  size: number;
  /** Bytes skipped after the field. */
  padding: number;
  decoders: DecoderConfig[];
}

/** One span kind: a ring buffer and the layout of its records. */
export interface SpanConfig {
  name: string;
  ringbuf: string;
  service?: string;
  labels: LabelConfig[];
  /** Sum of label sizes and paddings: the record size the config expects. */
  recordSize: number;
  /** `file:line:col` of this entry, for error messages. */
  where: string;
}

/** A loaded tracing config. */
export interface TracingConfig {
  path: string;
  spans: SpanConfig[];
  attach: AttachTarget[];
  /** Keys accepted but not acted on (`metrics`), with file:line: logged by run, printed by check. */
  warnings: string[];
}

/**
 * ebpf_exporter keys spanprobe cannot honour, and what to do instead: an
 * error naming the key beats a program that runs with half its setup.
 */
const UNSUPPORTED_KEYS: Readonly<Record<string, string>> = {
  kaddrs: "kaddrs (kernel symbol addresses written into kaddr_* variables) is not supported: declare " +
    "`extern const void SYMBOL __ksym;` in the BPF program and use `(u64)&SYMBOL` (libbpf resolves it at load), " +
    "then remove kaddrs",
  cgroup_id_map: "cgroup_id_map (a map of cgroup ids filled from regexps) is not supported: filter in the BPF " +
    "program (bpf_get_current_cgroup_id()), or decode the id with the cgroup decoder and filter in the collector; " +
    "then remove cgroup_id_map",
};

/** Special label names and their required size when decoded the standard way. */
export const SPECIAL_LABELS: Readonly<Record<string, { size?: number; decoder?: string }>> = {
  trace_id: { size: 16, decoder: "hex" },
  parent_span_id: { size: 8, decoder: "hex" },
  span_id: { size: 8, decoder: "hex" },
  span_monotonic_timestamp_ns: { size: 8, decoder: "uint" },
  span_duration_ns: { size: 8, decoder: "uint" },
  span_name: {},
  /** The span's status: 0 unset, 1 ok, 2 error (or `unset`/`ok`/`error` text, e.g. from a static_map). */
  span_status_code: {},
};

/** Reads and validates the config at `path`; throws UserError (exit 2) with file and line. */
export function loadTracingConfig(path: string): TracingConfig {
  const text = readConfigText(path, "tracing config");
  return parseTracingConfig(path, text);
}

function where(src: YamlSource, node: unknown): string {
  return src.error(node, "").message.replace(/: $/, "");
}

function plain(node: unknown): unknown {
  return (node as { toJSON?: () => unknown })?.toJSON?.() ?? (isScalar(node) ? node.value : node);
}

function intValue(src: YamlSource, node: unknown, what: string, min: number): number {
  const v = scalarValue(src, node, what);
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw src.error(node, `${what} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function parseDecoder(src: YamlSource, node: unknown, what: string): DecoderConfig {
  const keys = knownKeys(src, node, what, ["name", "static_map", "allow_unknown", "regexps"]);
  const nameNode = keys.get("name")?.value;
  if (nameNode === undefined) throw src.error(node, `${what} needs a name`);
  const config: DecoderConfig = { name: stringValue(src, nameNode, `${what} name`) };
  const sm = keys.get("static_map")?.value;
  if (sm !== undefined) {
    if (!isMap(sm)) throw src.error(sm, `${what}: static_map must be a mapping`);
    config.static_map = Object.fromEntries(
      sm.items.map((p) => [String(plain(p.key)), String(plain(p.value) ?? "")]),
    );
  }
  const au = keys.get("allow_unknown")?.value;
  if (au !== undefined) {
    const v = scalarValue(src, au, `${what} allow_unknown`);
    if (typeof v !== "boolean") throw src.error(au, `${what}: allow_unknown must be true or false`);
    config.allow_unknown = v;
  }
  const re = keys.get("regexps")?.value;
  if (re !== undefined) {
    if (!isSeq(re)) throw src.error(re, `${what}: regexps must be a list`);
    config.regexps = re.items.map((n) => String(scalarValue(src, n, `${what} regexp`)));
  }
  try {
    createDecoder(config);
  } catch (e) {
    throw src.error(node, `${what}: ${(e as Error).message}`);
  }
  return config;
}

function parseLabel(src: YamlSource, node: unknown, what: string): LabelConfig {
  const keys = knownKeys(src, node, what, ["name", "size", "padding", "decoders"]);
  const get = (k: string) => keys.get(k)?.value;
  if (get("name") === undefined) throw src.error(node, `${what} needs a name`);
  const name = stringValue(src, get("name"), `${what} name`);
  const label = `label "${name}"`;
  if (get("size") === undefined) throw src.error(node, `${label} needs a size (bytes)`);
  const size = intValue(src, get("size"), `${label} size`, 1);
  const padding = get("padding") === undefined ? 0 : intValue(src, get("padding"), `${label} padding`, 0);
  if (get("decoders") === undefined) throw src.error(node, `${label} needs decoders`);
  const decoders = seqItems(src, get("decoders"), `${label} decoders`).map((d, i) =>
    parseDecoder(src, d, `${label} decoder ${i + 1}`)
  );
  if (decoders.length === 0) throw src.error(get("decoders"), `${label} needs at least one decoder`);
  const special = SPECIAL_LABELS[name];
  if (
    special?.size !== undefined && decoders.length === 1 && decoders[0].name === special.decoder &&
    size !== special.size
  ) {
    throw src.error(get("size"), `${label} must be ${special.size} bytes, got ${size}`);
  }
  return { name, size, padding, decoders };
}

function parseAttach(src: YamlSource, node: unknown, what: string, baseDir: string): AttachTarget {
  const keys = knownKeys(src, node, what, ["program", "usdt", "uprobe"]);
  const programNode = keys.get("program")?.value;
  if (programNode === undefined) throw src.error(node, `${what} needs a program`);
  const program = stringValue(src, programNode, `${what} program`);
  const abs = (p: string) => p.startsWith("/") ? p : `${baseDir}/${p}`;
  const usdt = keys.get("usdt")?.value;
  const uprobe = keys.get("uprobe")?.value;
  if ((usdt === undefined) === (uprobe === undefined)) {
    throw src.error(node, `${what} needs exactly one of usdt or uprobe`);
  }
  if (usdt !== undefined) {
    const u = knownKeys(src, usdt, `${what} usdt`, ["binary", "provider", "name", "pid"]);
    const need = (k: string) => {
      const v = u.get(k)?.value;
      if (v === undefined) throw src.error(usdt, `${what} usdt needs ${k}`);
      return stringValue(src, v, `${what} usdt ${k}`);
    };
    const pid = u.get("pid")?.value;
    return {
      program,
      usdt: {
        binary: abs(need("binary")),
        provider: need("provider"),
        name: need("name"),
        ...(pid !== undefined ? { pid: intValue(src, pid, `${what} usdt pid`, 1) } : {}),
      },
    };
  }
  const u = knownKeys(src, uprobe, `${what} uprobe`, ["binary", "symbol", "retprobe", "pid"]);
  const need = (k: string) => {
    const v = u.get(k)?.value;
    if (v === undefined) throw src.error(uprobe, `${what} uprobe needs ${k}`);
    return stringValue(src, v, `${what} uprobe ${k}`);
  };
  const ret = u.get("retprobe")?.value;
  const pid = u.get("pid")?.value;
  return {
    program,
    uprobe: {
      binary: abs(need("binary")),
      symbol: need("symbol"),
      ...(ret !== undefined ? { retprobe: scalarValue(src, ret, `${what} retprobe`) === true } : {}),
      ...(pid !== undefined ? { pid: intValue(src, pid, `${what} uprobe pid`, 1) } : {}),
    },
  };
}

/** Parses config `text` (read from `path`); throws UserError (exit 2) with file and line. */
export function parseTracingConfig(path: string, text: string): TracingConfig {
  const src = parseYamlSource(path, text);
  const top = knownKeys(src, src.root, "the config", [
    "description", // one line for `spanprobe probes`
    "tracing",
    "metrics",
    ...Object.keys(UNSUPPORTED_KEYS),
  ]);
  const description = top.get("description");
  if (description && typeof plain(description.value) !== "string") {
    throw src.error(description.value, "description must be one line of text");
  }
  for (const [key, message] of Object.entries(UNSUPPORTED_KEYS)) {
    const pair = top.get(key);
    if (pair) throw src.error(pair.keyNode, message);
  }
  const warnings: string[] = [];
  const metrics = top.get("metrics");
  if (metrics) {
    const m = plain(metrics.value) as Record<string, unknown[] | undefined> | null;
    const count = (k: string) => Array.isArray(m?.[k]) ? m![k]!.length : 0;
    warnings.push(
      `${where(src, metrics.keyNode)}: metrics (${count("counters")} counters, ${count("histograms")} ` +
        "histograms) are not exported: spanprobe exports the spans of `tracing` only; run ebpf_exporter for the " +
        "metrics, or remove the section",
    );
  }
  const tracing = top.get("tracing")?.value;
  if (tracing === undefined) throw src.error(src.root, "the config has no `tracing` section");
  const t = knownKeys(src, tracing, "tracing", ["spans", "attach"]);
  const spansNode = t.get("spans")?.value;
  if (spansNode === undefined) throw src.error(tracing, "tracing needs a `spans` list");
  const items = seqItems(src, spansNode, "tracing.spans");
  if (items.length === 0) throw src.error(spansNode, "tracing.spans is empty");

  const spans: SpanConfig[] = [];
  const ringbufs = new Map<string, string>();
  items.forEach((node, i) => {
    const what = `tracing.spans[${i}]`;
    const keys = knownKeys(src, node, what, ["name", "ringbuf", "service", "labels"]);
    const get = (k: string) => keys.get(k)?.value;
    if (get("ringbuf") === undefined) throw src.error(node, `${what} needs a ringbuf (the ring buffer map's name)`);
    const ringbuf = stringValue(src, get("ringbuf"), `${what} ringbuf`);
    const name = get("name") === undefined ? ringbuf : stringValue(src, get("name"), `${what} name`);
    const service = get("service") === undefined ? undefined : stringValue(src, get("service"), `${what} service`);
    if (ringbufs.has(ringbuf)) {
      throw src.error(get("ringbuf"), `ring buffer "${ringbuf}" is already read by span "${ringbufs.get(ringbuf)}"`);
    }
    ringbufs.set(ringbuf, name);
    if (get("labels") === undefined) throw src.error(node, `span "${name}" needs labels`);
    const labelNodes = seqItems(src, get("labels"), `span "${name}" labels`);
    const labels = labelNodes.map((l, j) => parseLabel(src, l, `span "${name}" label ${j + 1}`));
    const seen = new Set<string>();
    labels.forEach((l, j) => {
      if (seen.has(l.name)) throw src.error(labelNodes[j], `span "${name}": label "${l.name}" appears twice`);
      seen.add(l.name);
    });
    if (labels.length === 0) throw src.error(get("labels"), `span "${name}" has no labels`);
    const recordSize = labels.reduce((n, l) => n + l.size + l.padding, 0);
    spans.push({ name, ringbuf, service, labels, recordSize, where: where(src, node) });
  });

  const baseDir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : Deno.cwd();
  const absBase = baseDir.startsWith("/") ? baseDir : `${Deno.cwd()}/${baseDir}`;
  const attachNode = t.get("attach")?.value;
  const attach = attachNode === undefined
    ? []
    : seqItems(src, attachNode, "tracing.attach").map((n, i) => parseAttach(src, n, `tracing.attach[${i}]`, absBase));
  return { path, spans, attach, warnings };
}
