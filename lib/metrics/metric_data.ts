/**
 * Collected metrics, ready to encode (OTLP protobuf or JSON) or to expose
 * (Prometheus text): the OTLP data model reduced to what spanprobe emits,
 * monotonic sums and explicit-bucket histograms.
 * @module
 */
import type { Attributes } from "../core/span_data.ts";

/** How points relate to earlier ones: since the series began, or since the last collection. */
export type Temporality = "cumulative" | "delta";

/** One point of a monotonic sum (a counter). */
export interface SumPoint {
  attributes: Attributes;
  startNs: bigint;
  timeNs: bigint;
  value: number;
}

/** One point of an explicit-bucket histogram (values in the metric's unit, seconds here). */
export interface HistogramPoint {
  attributes: Attributes;
  startNs: bigint;
  timeNs: bigint;
  count: number;
  sum: number;
  /** `bounds.length + 1` counts. */
  bucketCounts: number[];
  bounds: readonly number[];
  min?: number;
  max?: number;
}

/** A monotonic sum. */
export interface SumMetric {
  type: "sum";
  name: string;
  description: string;
  unit: string;
  temporality: Temporality;
  points: SumPoint[];
}

/** An explicit-bucket histogram. */
export interface HistogramMetric {
  type: "histogram";
  name: string;
  description: string;
  unit: string;
  temporality: Temporality;
  points: HistogramPoint[];
}

/** Either kind of metric. */
export type Metric = SumMetric | HistogramMetric;

/** The metrics of one resource (spanprobe groups by `service.name`). */
export interface ResourceMetricsData {
  resource: Attributes;
  metrics: Metric[];
}
