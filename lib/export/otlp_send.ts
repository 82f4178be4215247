/**
 * One OTLP/HTTP export request: POST an encoded body, read the answer, and
 * say whether it worked, whether to retry and when. No retries here: the
 * caller (a sink, or a reliability layer around it) decides.
 * @module
 */
import { parseErrorMessage, parseExportResponse, parseRetryAfter } from "./otlp_response.ts";

/** OTLP/HTTP encodings. */
export type OtlpProtocol = "http/protobuf" | "http/json";

/** Content types of the OTLP/HTTP encodings. */
export const CONTENT_TYPES: Record<OtlpProtocol, string> = {
  "http/protobuf": "application/x-protobuf",
  "http/json": "application/json",
};

/** HTTP statuses the OTLP spec calls retryable. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** One request to send. */
export interface OtlpRequest {
  /** The full traces URL. */
  url: string;
  protocol: OtlpProtocol;
  /** The encoded request, already compressed when `gzip` is set. */
  body: Uint8Array;
  /** Whether `body` is gzip-compressed (sets `Content-Encoding: gzip`). */
  gzip?: boolean;
  /** Extra headers (e.g. authentication); they cannot replace Content-Type or Content-Encoding. */
  headers?: Record<string, string>;
  /** Give up after this long (ms), counting the response body (read up to {@linkcode MAX_RESPONSE_BYTES}); 10 s by default. */
  timeoutMs?: number;
  /** Cancels the request (counted as an error, not retryable). */
  signal?: AbortSignal;
  /** `User-Agent` header; `spanprobe` by default. */
  userAgent?: string;
}

/** What happened to one request. */
export interface OtlpSendResult {
  /** A 2xx answer (some spans may still be rejected, see `rejectedSpans`). */
  ok: boolean;
  /** The HTTP status; 0 when there was no answer (connection error, timeout, cancel). */
  status: number;
  /** Whether sending the same request again may succeed. */
  retryable: boolean;
  /** The server's `Retry-After`, in ms. */
  retryAfterMs?: number;
  /** Spans the server rejected in a partial success. */
  rejectedSpans?: number;
  /** The server's message (partial success or error body). */
  errorMessage?: string;
  /** What went wrong, for logs; a short category first: "timeout", "network", "http 503", "aborted". */
  error?: string;
  /**
   * No answer within the timeout. The server may still have received and
   * processed the request, so a retry may deliver it twice (at-least-once).
   */
  timedOut?: boolean;
}

/**
 * The most of a response body the exporter reads (decompressed): an
 * `ExportTraceServiceResponse` or an error body is a few hundred bytes;
 * 4 MiB is plenty and bounds what a collector's answer can cost.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * Reads at most `max` bytes of `stream` (chunk by chunk, so the event loop
 * runs between chunks), then cancels the rest. `truncated` when there was more.
 */
export async function readBounded(
  stream: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<{ body: Uint8Array; truncated: boolean }> {
  if (!stream) return { body: new Uint8Array(0), truncated: false };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (size + value.length > max) {
        chunks.push(value.subarray(0, max - size));
        size = max;
        truncated = true;
        break;
      }
      chunks.push(value);
      size += value.length;
    }
  } finally {
    if (truncated) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  return { body, truncated };
}

/** gzip `bytes` with `CompressionStream`. */
export async function gzipBytes(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * `url` without its credentials (`http://user:pass@host`), and the
 * `Authorization: Basic` header they stand for. An `authorization` header
 * the user gave wins and the URL's credentials are not sent: fetch would
 * otherwise send both, as one `Basic …, Bearer …` value no collector accepts.
 */
export function moveUrlCredentials(url: string, headers: Record<string, string>): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url; // fetch reports it
  }
  if (!parsed.username && !parsed.password) return url;
  if (headers.authorization === undefined) {
    const pair = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
    headers.authorization = `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(pair)))}`;
  }
  parsed.username = "";
  parsed.password = "";
  return parsed.href;
}

/** Send one export request. Never throws. */
export async function sendOtlpRequest(req: OtlpRequest): Promise<OtlpSendResult> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, req.timeoutMs ?? 10_000);
  const onAbort = () => controller.abort();
  req.signal?.addEventListener("abort", onAbort);
  if (req.signal?.aborted) controller.abort();
  const headers: Record<string, string> = { "user-agent": req.userAgent ?? "spanprobe" };
  for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
  headers["content-type"] = CONTENT_TYPES[req.protocol];
  if (req.gzip) headers["content-encoding"] = "gzip";
  else delete headers["content-encoding"];
  const url = moveUrlCredentials(req.url, headers);
  try {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body: req.body as Uint8Array<ArrayBuffer>,
      signal: controller.signal,
    });
    // never the whole body: a gzip bomb or an endless answer must not fill memory or hold the loop.
    // Once the status has arrived it decides: a timeout while reading the body (a starved event loop
    // can run the timer before the body's last read) must not turn an accepted batch into a resend.
    let body: Uint8Array;
    let truncated: boolean;
    let unread: string | undefined;
    try {
      ({ body, truncated } = await readBounded(res.body, MAX_RESPONSE_BYTES));
    } catch (e) {
      body = new Uint8Array(0);
      truncated = true;
      unread = timedOut
        ? `response body not read: timeout after ${req.timeoutMs ?? 10_000} ms`
        : `response body not read: ${e instanceof Error ? e.message : String(e)}`;
    }
    const contentType = res.headers.get("content-type");
    if (res.ok) {
      const info = truncated ? {} : parseExportResponse(body, contentType);
      const error = unread ??
        (truncated ? `response body over ${MAX_RESPONSE_BYTES} bytes: not read further` : undefined);
      return { ok: true, status: res.status, retryable: false, ...info, ...(error ? { error } : {}) };
    }
    const result: OtlpSendResult = {
      ok: false,
      status: res.status,
      retryable: RETRYABLE_STATUSES.has(res.status),
      error: unread ? `http ${res.status}; ${unread}` : `http ${res.status}`,
    };
    const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
    if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
    const message = parseErrorMessage(body, contentType);
    if (message) result.errorMessage = message;
    return result;
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    if (timedOut) {
      return {
        ok: false,
        status: 0,
        retryable: true,
        timedOut: true,
        error: `timeout after ${req.timeoutMs ?? 10_000} ms`,
      };
    }
    if (req.signal?.aborted) return { ok: false, status: 0, retryable: false, error: "aborted" };
    return { ok: false, status: 0, retryable: true, error: `network: ${detail}` };
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", onAbort);
  }
}
