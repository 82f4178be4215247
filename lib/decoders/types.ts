/**
 * The decoder model (ebpf_exporter's): a label's bytes pass through a chain
 * of decoders; the first sees the raw field, each later one the previous
 * one's text output. A decoder may also reject the whole record (`null`,
 * e.g. `regexp` without a match), or fail (`DecodeError`, counted).
 * @module
 */
import type { AttributeValue } from "../core/span_data.ts";

/** A decoder's settings from the config (`name` plus decoder-specific keys). */
export interface DecoderConfig {
  name: string;
  /** `static_map`: input → output. */
  static_map?: Record<string, string>;
  /** `static_map`: pass unknown inputs through instead of `unknown:<input>`. */
  allow_unknown?: boolean;
  /** `regexp`: keep the record when any of these match. */
  regexps?: string[];
}

/** Where decoders find system facts (overridable for tests). */
export interface DecoderEnv {
  /** Kernel symbols, default `/proc/kallsyms`. */
  kallsymsPath?: string;
  /** cgroup v2 mount, default: found in /proc/self/mounts. */
  cgroupRoot?: string;
  /** Network interfaces, default `/sys/class/net`. */
  netClassDir?: string;
  /** Block devices, default `/proc/partitions`. */
  partitionsPath?: string;
  /** PCI id database candidates, default `/usr/share/misc/pci.ids`, `/usr/share/hwdata/pci.ids`. */
  pciIdsPaths?: string[];
}

/** A configured decoder. */
export interface Decoder {
  readonly name: string;
  /** First in a chain: decode the field `buf[off, off + len)`. `null` skips the record. */
  bytes(buf: Uint8Array, off: number, len: number): string | null;
  /** Later in a chain: decode the previous decoder's output. `null` skips the record. */
  text(input: string): string | null;
  /** When alone in a chain: the field as a typed attribute value (e.g. `uint` → number). */
  value?(buf: Uint8Array, off: number, len: number): AttributeValue;
}

/** Creates a decoder from its config; throws `Error` on bad settings. Must be cheap (resources load lazily). */
export type DecoderFactory = (config: DecoderConfig, env: DecoderEnv) => Decoder;

/** A field a decoder cannot decode (counted as a decode error, the span is dropped). */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}
