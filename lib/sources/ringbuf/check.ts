/**
 * `spanprobe check` for a ring-buffer probe: build its object when clang is
 * there (compile errors with clang's file:line), open it without loading
 * (nothing reaches the kernel) and check the spans config against it — the
 * same checks and messages as `run`, before anything is attached.
 * @module
 */
import type { TracingConfig } from "../../config/tracing_config.ts";
import { inspectBpfObject } from "../../ffi/bpf_object.ts";
import type { Logger } from "../../telemetry/log.ts";
import { type BuildOptions, BuildToolMissing } from "./build.ts";
import { resolveProbeObject } from "./mod.ts";
import { checkSpanRing, prefixMessage } from "./span_ring.ts";

/** Options of {@linkcode checkRingbufProbe}. */
export interface RingbufCheckOptions {
  configPath: string;
  config: TracingConfig;
  logger: Logger;
  cacheDir?: string;
  build?: BuildOptions;
  libbpfPath?: string;
}

/** What `check` found. */
export interface RingbufCheck {
  /** The object checked; undefined when it could not be built here (see `note`). */
  objectPath?: string;
  /** Why the object was not checked (e.g. clang is not installed). */
  note?: string;
  /** Things that work but deserve a look (records longer than their labels). */
  warnings: string[];
}

/** Builds (when it can), opens and checks a ring-buffer probe; throws UserError (exit 2) on a problem. */
export async function checkRingbufProbe(o: RingbufCheckOptions): Promise<RingbufCheck> {
  let objectPath: string;
  let bytes: Uint8Array<ArrayBuffer> | undefined;
  try {
    ({ objectPath, bytes } = await resolveProbeObject(o));
  } catch (e) {
    if (e instanceof BuildToolMissing) return { note: `object not built: ${e.message}`, warnings: o.config.warnings };
    throw e;
  }
  const warnings = inspectBpfObject(objectPath, { logger: o.logger, libbpfPath: o.libbpfPath, bytes }, (info) => {
    const maps = {
      mapNames: () => [...info.maps.keys()],
      mapType: (n: string) => info.maps.get(n),
      btfVarSize: info.btfVarSize,
    };
    return o.config.spans.flatMap((sc) => {
      const declared = checkSpanRing(sc, maps, o.config.path, objectPath);
      return declared === undefined ? [] : [prefixMessage(sc, declared)];
    });
  });
  return { objectPath, warnings: [...o.config.warnings, ...warnings] };
}
