/**
 * OTLP exporter configuration from the standard environment variables, and
 * resource attributes from `OTEL_RESOURCE_ATTRIBUTES` / `OTEL_SERVICE_NAME`.
 *
 * Variables are read through a getter, so the caller decides how (and with
 * which permissions) the environment is read.
 *
 * Precedence, highest first: CLI flag > signal-specific variable
 * (`OTEL_EXPORTER_OTLP_TRACES_*`) > generic variable (`OTEL_EXPORTER_OTLP_*`)
 * > default. Headers merge key by key in the same order (a key set at a
 * higher level replaces the same key, case-insensitively, from a lower one).
 * @module
 */
import { UserError } from "../core/errors.ts";
import type { OtlpProtocol } from "./otlp_send.ts";

/** Reads one environment variable. */
export type EnvGetter = (name: string) => string | undefined;

/** Resolved OTLP/HTTP exporter settings. */
export interface OtlpExporterConfig {
  /** The full traces URL. */
  endpoint: string;
  protocol: OtlpProtocol;
  /** Extra request headers, names lowercased. */
  headers: Record<string, string>;
  compression: "gzip" | "none";
  timeoutMs: number;
}

/** Values given on the command line; each wins over the environment. */
export interface OtlpConfigFlags {
  /** A base URL (like `OTEL_EXPORTER_OTLP_ENDPOINT`): `/v1/traces` is appended. */
  endpoint?: string;
  /** A full traces URL, used as is (wins over `endpoint`). */
  tracesEndpoint?: string;
  protocol?: string;
  headers?: Record<string, string>;
  compression?: string;
  timeoutMs?: number;
}

/** Defaults of the OTLP spec for HTTP. */
export const OTLP_DEFAULTS: OtlpExporterConfig = {
  endpoint: "http://localhost:4318/v1/traces",
  protocol: "http/protobuf",
  headers: {},
  compression: "none",
  timeoutMs: 10_000,
};

/** `base` with the traces path appended, as the spec builds it from `OTEL_EXPORTER_OTLP_ENDPOINT`. */
export function tracesUrlFromBase(base: string): string {
  return base.endsWith("/") ? `${base}v1/traces` : `${base}/v1/traces`;
}

function checkUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${source}: not a URL: ${JSON.stringify(url)}`, 2);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UserError(`${source}: only http and https endpoints are supported, got ${JSON.stringify(url)}`, 2);
  }
  return url;
}

/**
 * A `k=v,k2=v2` list (W3C-baggage-like, as `OTEL_EXPORTER_OTLP_HEADERS` and
 * `OTEL_RESOURCE_ATTRIBUTES` use): entries split on `,`, key and value on the
 * first `=`, both trimmed and percent-decoded; empty entries are skipped.
 * Throws on an entry without `=`, an empty key, or bad percent-encoding.
 */
export function parseKeyValueList(str: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of str.split(",")) {
    if (!entry.trim()) continue;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new Error(`missing '=' in ${JSON.stringify(entry.trim())}`);
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(entry.slice(0, eq).trim());
      value = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      throw new Error(`bad percent-encoding in ${JSON.stringify(entry.trim())}`);
    }
    if (!key) throw new Error(`empty key in ${JSON.stringify(entry.trim())}`);
    out[key] = value;
  }
  return out;
}

/**
 * `OTEL_RESOURCE_ATTRIBUTES`-style `k=v,k2=v2` (percent-decoded) as
 * attributes. Throws on malformed input: the spec says to discard the whole
 * value then, so callers should report the error and use none of it.
 */
export function parseResourceAttributes(str: string): Record<string, string> {
  return parseKeyValueList(str);
}

/** Resource attributes from the environment, and what was wrong with it. */
export interface EnvResourceAttributes {
  attributes: Record<string, string>;
  warnings: string[];
}

/**
 * `OTEL_RESOURCE_ATTRIBUTES`, with `OTEL_SERVICE_NAME` (when set) as
 * `service.name` over it. A malformed `OTEL_RESOURCE_ATTRIBUTES` is ignored
 * as a whole, with a warning.
 */
export function resourceAttributesFromEnv(env: EnvGetter): EnvResourceAttributes {
  const warnings: string[] = [];
  let attributes: Record<string, string> = {};
  const raw = env("OTEL_RESOURCE_ATTRIBUTES");
  if (raw) {
    try {
      attributes = parseResourceAttributes(raw);
    } catch (e) {
      warnings.push(`OTEL_RESOURCE_ATTRIBUTES ignored: ${(e as Error).message}`);
    }
  }
  const serviceName = env("OTEL_SERVICE_NAME")?.trim();
  if (serviceName) attributes["service.name"] = serviceName;
  return { attributes, warnings };
}

/** The first defined, non-empty value with where it came from. */
function pick(...candidates: [string | undefined, string][]): [string, string] | undefined {
  for (const [value, source] of candidates) {
    if (value !== undefined && value.trim() !== "") return [value.trim(), source];
  }
  return undefined;
}

function parseProtocol([value, source]: [string, string]): OtlpProtocol {
  if (value === "http/protobuf" || value === "http/json") return value;
  if (value === "grpc") {
    throw new UserError(`${source}: grpc is not supported; use http/protobuf or http/json`, 2);
  }
  throw new UserError(`${source}: unknown protocol ${JSON.stringify(value)} (http/protobuf or http/json)`, 2);
}

function parseCompression([value, source]: [string, string]): "gzip" | "none" {
  const v = value.toLowerCase();
  if (v === "gzip" || v === "none") return v;
  throw new UserError(`${source}: unknown compression ${JSON.stringify(value)} (gzip or none)`, 2);
}

function parseTimeout([value, source]: [string, string]): number {
  if (!/^\d+$/.test(value) || Number(value) <= 0) {
    throw new UserError(
      `${source}: timeout must be a positive number of milliseconds, got ${JSON.stringify(value)}`,
      2,
    );
  }
  return Number(value);
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

/** Resolved settings and what was ignored on the way. */
export interface ResolvedOtlpConfig {
  config: OtlpExporterConfig;
  warnings: string[];
}

/**
 * Resolve the exporter settings from `flags` and the environment (see the
 * module doc for precedence). Throws a {@linkcode UserError} (exit code 2)
 * naming the flag or variable when a value is unusable (bad URL, unknown
 * protocol or compression, bad timeout); malformed header lists are ignored
 * with a warning.
 */
export function resolveOtlpConfig(env: EnvGetter, flags: OtlpConfigFlags = {}): ResolvedOtlpConfig {
  const warnings: string[] = [];
  const E = "OTEL_EXPORTER_OTLP_";
  const T = "OTEL_EXPORTER_OTLP_TRACES_";

  let endpoint = OTLP_DEFAULTS.endpoint;
  if (flags.tracesEndpoint) endpoint = checkUrl(flags.tracesEndpoint, "--traces-endpoint");
  else if (flags.endpoint) endpoint = checkUrl(tracesUrlFromBase(flags.endpoint), "--endpoint");
  else {
    const traces = pick([env(`${T}ENDPOINT`), `${T}ENDPOINT`]);
    const base = pick([env(`${E}ENDPOINT`), `${E}ENDPOINT`]);
    if (traces) endpoint = checkUrl(traces[0], traces[1]);
    else if (base) endpoint = checkUrl(tracesUrlFromBase(base[0]), base[1]);
  }

  const protocol = pick(
    [flags.protocol, "--protocol"],
    [env(`${T}PROTOCOL`), `${T}PROTOCOL`],
    [env(`${E}PROTOCOL`), `${E}PROTOCOL`],
  );
  const compression = pick(
    [flags.compression, "--compression"],
    [env(`${T}COMPRESSION`), `${T}COMPRESSION`],
    [env(`${E}COMPRESSION`), `${E}COMPRESSION`],
  );
  const timeout = pick(
    [flags.timeoutMs === undefined ? undefined : String(flags.timeoutMs), "--timeout"],
    [env(`${T}TIMEOUT`), `${T}TIMEOUT`],
    [env(`${E}TIMEOUT`), `${E}TIMEOUT`],
  );

  const headers: Record<string, string> = {};
  for (const name of [`${E}HEADERS`, `${T}HEADERS`]) {
    const raw = env(name);
    if (!raw) continue;
    try {
      Object.assign(headers, lowerKeys(parseKeyValueList(raw)));
    } catch (e) {
      warnings.push(`${name} ignored: ${(e as Error).message}`);
    }
  }
  Object.assign(headers, lowerKeys(flags.headers ?? {}));

  return {
    config: {
      endpoint,
      protocol: protocol ? parseProtocol(protocol) : OTLP_DEFAULTS.protocol,
      headers,
      compression: compression ? parseCompression(compression) : OTLP_DEFAULTS.compression,
      timeoutMs: timeout ? parseTimeout(timeout) : OTLP_DEFAULTS.timeoutMs,
    },
    warnings,
  };
}
