/**
 * A Go probe's spec (`probes/go.yaml`): its ring buffer and the functions
 * to trace, each with the BPF program run at its entry and at its returns.
 * @module
 */
import { UserError } from "../core/errors.ts";
import { knownKeys, parseYamlSource, scalarValue, seqItems, stringValue } from "./yaml_source.ts";

/** One traced function. */
export interface GoFunctionSpec {
  /** The Go symbol, e.g. `net/http.serverHandler.ServeHTTP`. */
  symbol: string;
  /** Program attached at the function's entry. */
  entry: string;
  /** Program attached at each of its RET instructions. */
  ret: string;
  /** Makes no spans, only carries context (e.g. goroutine creation): does not count as something to trace. */
  context: boolean;
}

/** A parsed Go probe spec. */
export interface GoSpec {
  path: string;
  ringbuf: string;
  functions: GoFunctionSpec[];
}

/** Whether a probe spec's text is a Go probe (a top-level `go:` key). */
export function isGoSpecText(text: string): boolean {
  return /^go\s*:/m.test(text);
}

/** Parses the Go probe spec at `path`; errors name the file and line (exit 2). */
export function loadGoSpec(path: string): GoSpec {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UserError(`${path}: cannot read probe spec: ${(e as Error).message}`, 2);
  }
  const src = parseYamlSource(path, text);
  const top = knownKeys(src, src.root, "the Go probe spec", ["description", "go"]);
  const go = top.get("go");
  if (!go) throw src.error(src.root, "missing go: section");
  const body = knownKeys(src, go.value, "go", ["ringbuf", "functions"]);
  const rb = body.get("ringbuf");
  const fns = body.get("functions");
  if (!rb || !fns) throw src.error(go.value, "go: needs ringbuf and functions");
  const functions = seqItems(src, fns.value, "go.functions").map((item) => {
    const f = knownKeys(src, item, "a go.functions entry", ["symbol", "entry", "return", "context"]);
    const need = (k: string) => {
      const v = f.get(k);
      if (!v) throw src.error(item, `a go.functions entry needs ${k}`);
      return stringValue(src, v.value, `go.functions ${k}`);
    };
    const context = f.get("context");
    const isContext = context ? scalarValue(src, context.value, "go.functions context") : false;
    if (typeof isContext !== "boolean") throw src.error(context!.value, "go.functions context must be true or false");
    return { symbol: need("symbol"), entry: need("entry"), ret: need("return"), context: isContext };
  });
  return { path, ringbuf: stringValue(src, rb.value, "go.ringbuf"), functions };
}
