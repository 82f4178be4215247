/**
 * Collected metrics in the Prometheus text exposition format (0.0.4), named
 * the way the OpenTelemetry Prometheus exporter names them: characters
 * outside `[a-zA-Z0-9_:]` become `_` (runs of `_` collapse), the unit is
 * appended as a word (`s` → `_seconds`; `{...}` annotations are dropped),
 * monotonic sums end in `_total`, histograms are written as `_bucket` (with
 * `le`, ending at `+Inf`), `_sum` and `_count`. Attribute keys become labels
 * the same way (a leading digit gets `key_`). The resource's `service.name`
 * becomes the label `service_name`, so series of several services stay apart.
 * @module
 */
import type { Attributes } from "../core/span_data.ts";
import type { Metric, ResourceMetricsData } from "./metric_data.ts";

const UNIT_WORDS: Record<string, string> = {
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  By: "bytes",
};

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_:]/g, "_").replace(/__+/g, "_");
}

/** The Prometheus name of an OpenTelemetry metric. */
export function prometheusMetricName(name: string, unit: string, type: Metric["type"]): string {
  let out = sanitize(name);
  if (/^[0-9]/.test(out)) out = `_${out}`;
  const word = UNIT_WORDS[unit] ?? (unit.startsWith("{") ? "" : sanitize(unit));
  if (word && !out.endsWith(`_${word}`)) out += `_${word}`;
  if (type === "sum" && !out.endsWith("_total")) out += "_total";
  return out;
}

/** The Prometheus label name of an attribute key. */
export function prometheusLabelName(key: string): string {
  const out = sanitize(key);
  return /^[0-9]/.test(out) ? `key_${out}` : out;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function labels(service: string | undefined, attributes: Attributes, extra?: string): string {
  const parts: string[] = [];
  if (service !== undefined) parts.push(`service_name="${escapeLabel(service)}"`);
  for (const key in attributes) {
    parts.push(`${prometheusLabelName(key)}="${escapeLabel(String(attributes[key]))}"`);
  }
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** Cumulative metrics (as collected with temporality "cumulative") as Prometheus text. */
export function metricsPrometheusText(batch: readonly ResourceMetricsData[]): string {
  const families = new Map<string, { metric: Metric; series: { service?: string; metric: Metric }[] }>();
  for (const r of batch) {
    const sv = r.resource["service.name"];
    const service = sv === undefined ? undefined : String(sv);
    for (const m of r.metrics) {
      const name = prometheusMetricName(m.name, m.unit, m.type);
      let f = families.get(name);
      if (!f) families.set(name, f = { metric: m, series: [] });
      f.series.push({ service, metric: m });
    }
  }
  const lines: string[] = [];
  for (const [name, f] of families) {
    if (f.metric.description) lines.push(`# HELP ${name} ${escapeHelp(f.metric.description)}`);
    lines.push(`# TYPE ${name} ${f.metric.type === "sum" ? "counter" : "histogram"}`);
    for (const { service, metric } of f.series) {
      if (metric.type === "sum") {
        for (const p of metric.points) lines.push(`${name}${labels(service, p.attributes)} ${p.value}`);
        continue;
      }
      for (const p of metric.points) {
        let cumulative = 0;
        for (let i = 0; i < p.bucketCounts.length; i++) {
          cumulative += p.bucketCounts[i];
          const le = i < p.bounds.length ? String(p.bounds[i]) : "+Inf";
          lines.push(`${name}_bucket${labels(service, p.attributes, `le="${le}"`)} ${cumulative}`);
        }
        lines.push(`${name}_sum${labels(service, p.attributes)} ${p.sum}`);
        lines.push(`${name}_count${labels(service, p.attributes)} ${p.count}`);
      }
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}
