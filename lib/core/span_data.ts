/**
 * The span model shared by every source and exporter.
 *
 * Times are Unix-epoch nanoseconds as `bigint`; ids are lowercase hex strings
 * (32 characters for a trace id, 16 for a span id), as OTLP/JSON spells them.
 * @module
 */

/** An attribute value; `Uint8Array` is sent as OTLP `bytes_value` (used for non-UTF-8 strings). */
export type AttributeValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | AttributeValue[];

/** Attributes keyed by name (OpenTelemetry semantic-convention names where one exists). */
export type Attributes = Record<string, AttributeValue>;

/** OTLP span kinds, numbered as on the wire. */
export const SpanKind = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
} as const;

/** One of the {@linkcode SpanKind} values. */
export type SpanKindValue = typeof SpanKind[keyof typeof SpanKind];

/** OTLP status codes, numbered as on the wire. */
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

/** One of the {@linkcode StatusCode} values. */
export type StatusCodeValue = typeof StatusCode[keyof typeof StatusCode];

/** A span status. */
export interface SpanStatus {
  code: StatusCodeValue;
  message?: string;
}

/** A timed event inside a span. */
export interface SpanEvent {
  name: string;
  timeNs: bigint;
  attributes?: Attributes;
}

/**
 * The resource a span belongs to. Exporters group spans by object identity, so
 * a source should reuse one object per resource.
 */
export interface Resource {
  readonly attributes: Attributes;
}

/** A finished span, ready to export. */
export interface SpanData {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKindValue;
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  status: SpanStatus;
  events?: SpanEvent[];
  resource: Resource;
}
