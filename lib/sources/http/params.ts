/**
 * The http probe's parameters (`--param http.NAME=VALUE` or `--param
 * NAME=VALUE`), validated in one place; a bad value is a UserError (exit 2)
 * naming the parameter.
 * @module
 */
import { UserError } from "../../core/errors.ts";
import { parseTemplates } from "./route.ts";

/** Parameter names the http probe takes. */
export const HTTP_PARAMS: readonly string[] = ["capture_bytes", "routes", "url_query", "command_line", "link_grace_ms"];

/** Parsed parameters. */
export interface HttpParams {
  captureBytes?: number;
  routes: string[];
  urlQuery: boolean;
  commandLine: boolean;
  linkGraceMs?: number;
}

function bool(name: string, v: string | undefined): boolean {
  if (v === undefined) return false;
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new UserError(`--param ${name}=${v}: expected true or false`, 2);
}

function int(name: string, v: string | undefined, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v) || Number(v) < lo || Number(v) > hi) {
    throw new UserError(`--param ${name}=${v}: expected an integer from ${lo} to ${hi}`, 2);
  }
  return Number(v);
}

/** Validates `params` (unknown names included); throws a UserError (exit 2). */
export function parseHttpParams(params: Record<string, string>): HttpParams {
  for (const k of Object.keys(params)) {
    if (!HTTP_PARAMS.includes(k)) {
      throw new UserError(`--param ${k}: the http probe has no such parameter (it has ${HTTP_PARAMS.join(", ")})`, 2);
    }
  }
  const routes = params.routes ? params.routes.split(",").map((r) => r.trim()).filter(Boolean) : [];
  try {
    parseTemplates(routes);
  } catch (e) {
    throw new UserError(`--param routes=${params.routes}: ${(e as Error).message}`, 2);
  }
  return {
    captureBytes: int("capture_bytes", params.capture_bytes, 64, 4096),
    routes,
    urlQuery: bool("url_query", params.url_query),
    commandLine: bool("command_line", params.command_line),
    linkGraceMs: int("link_grace_ms", params.link_grace_ms, 0, 10_000),
  };
}
