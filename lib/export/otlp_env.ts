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
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { UserError } from "../core/errors.ts";
import { redactUrl } from "../telemetry/redact.ts";
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

function baseToTraces(base: string | undefined): string | undefined {
  return base === undefined || base.trim() === "" ? undefined : tracesUrlFromBase(base.trim());
}

/**
 * `url` if it parses as an http or https URL; else a {@linkcode UserError}
 * (exit 2) naming `source` (a flag or variable) and the URL with any
 * credentials redacted.
 */
export function checkEndpointUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`${source}: not a URL: ${JSON.stringify(redactUrl(url))}`, 2);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UserError(
      `${source}: only http and https endpoints are supported, got ${JSON.stringify(redactUrl(url))}`,
      2,
    );
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
  // errors name the entry by position only: values may be secrets (headers)
  let n = 0;
  for (const entry of str.split(",")) {
    n++;
    if (!entry.trim()) continue;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new Error(`entry ${n}: missing '=' (expected key=value,key2=value2)`);
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(entry.slice(0, eq).trim());
      value = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      throw new Error(`entry ${n}: bad percent-encoding`);
    }
    if (!key) throw new Error(`entry ${n}: empty key`);
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
  if (serviceName) attributes[ATTR_SERVICE_NAME] = serviceName;
  return { attributes, warnings };
}

/**
 * The first usable value among `candidates` (highest precedence first;
 * undefined or blank ones are skipped). A value that does not parse throws
 * a {@linkcode UserError} when it comes from a flag; from the environment it
 * is ignored with a warning naming the variable, as the OpenTelemetry SDK
 * environment spec asks, and the next candidate is tried.
 */
function pickValid<T>(
  parse: (value: string, source: string) => T,
  warnings: string[],
  ...candidates: [string | undefined, string][]
): T | undefined {
  for (const [value, source] of candidates) {
    if (value === undefined || value.trim() === "") continue;
    try {
      return parse(value.trim(), source);
    } catch (e) {
      if (source.startsWith("--")) throw e;
      warnings.push(`${(e as Error).message}; ignored`);
    }
  }
  return undefined;
}

function parseProtocol(value: string, source: string): OtlpProtocol {
  if (value === "http/protobuf" || value === "http/json") return value;
  if (value === "grpc") {
    throw new UserError(`${source}: grpc is not supported; use http/protobuf or http/json`, 2);
  }
  throw new UserError(`${source}: unknown protocol ${JSON.stringify(value)} (http/protobuf or http/json)`, 2);
}

function parseCompression(value: string, source: string): "gzip" | "none" {
  const v = value.toLowerCase();
  if (v === "gzip" || v === "none") return v;
  throw new UserError(`${source}: unknown compression ${JSON.stringify(value)} (gzip or none)`, 2);
}

function parseTimeout(value: string, source: string): number {
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
 * module doc for precedence). A flag with an unusable value (bad URL,
 * unknown protocol or compression, bad timeout) throws a
 * {@linkcode UserError} (exit code 2) naming it; an unusable environment
 * variable (those too, and malformed header lists) is ignored with a
 * warning naming it, as the OpenTelemetry SDK environment spec says: the
 * next lower source (or the default) applies.
 */
export function resolveOtlpConfig(env: EnvGetter, flags: OtlpConfigFlags = {}): ResolvedOtlpConfig {
  const warnings: string[] = [];
  const E = "OTEL_EXPORTER_OTLP_";
  const T = "OTEL_EXPORTER_OTLP_TRACES_";

  const endpoint = pickValid(
    checkEndpointUrl,
    warnings,
    [flags.tracesEndpoint, "--traces-endpoint"],
    [flags.endpoint === undefined ? undefined : tracesUrlFromBase(flags.endpoint), "--endpoint"],
    [env(`${T}ENDPOINT`), `${T}ENDPOINT`],
    [baseToTraces(env(`${E}ENDPOINT`)), `${E}ENDPOINT`],
  ) ?? OTLP_DEFAULTS.endpoint;
  const protocol = pickValid(
    parseProtocol,
    warnings,
    [flags.protocol, "--protocol"],
    [env(`${T}PROTOCOL`), `${T}PROTOCOL`],
    [env(`${E}PROTOCOL`), `${E}PROTOCOL`],
  );
  const compression = pickValid(
    parseCompression,
    warnings,
    [flags.compression, "--compression"],
    [env(`${T}COMPRESSION`), `${T}COMPRESSION`],
    [env(`${E}COMPRESSION`), `${E}COMPRESSION`],
  );
  const timeout = pickValid(
    parseTimeout,
    warnings,
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
      protocol: protocol ?? OTLP_DEFAULTS.protocol,
      headers,
      compression: compression ?? OTLP_DEFAULTS.compression,
      timeoutMs: timeout ?? OTLP_DEFAULTS.timeoutMs,
    },
    warnings,
  };
}
