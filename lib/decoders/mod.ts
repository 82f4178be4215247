/**
 * The decoder registry and label chains: a label's config (its decoders)
 * becomes one function from the record bytes to the label's value.
 * @module
 */
import type { AttributeValue } from "../core/span_data.ts";
import { cgroupDecoder } from "./cgroup.ts";
import { dnameDecoder } from "./dname.ts";
import { errnoDecoder } from "./errno.ts";
import { hexDecoder } from "./hex.ts";
import { ifnameDecoder } from "./ifname.ts";
import { inetIpDecoder } from "./inet_ip.ts";
import { kstackDecoder } from "./kstack.ts";
import { ksymDecoder } from "./ksym.ts";
import { majorminorDecoder } from "./majorminor.ts";
import { pciClassDecoder } from "./pci_class.ts";
import { pciDeviceDecoder } from "./pci_device.ts";
import { pciSubclassDecoder } from "./pci_subclass.ts";
import { pciVendorDecoder } from "./pci_vendor.ts";
import { regexpDecoder } from "./regexp.ts";
import { staticMapDecoder } from "./static_map.ts";
import { stringDecoder } from "./string.ts";
import { syscallDecoder } from "./syscall.ts";
import type { Decoder, DecoderConfig, DecoderEnv, DecoderFactory } from "./types.ts";
import { uintDecoder } from "./uint.ts";

export { DecodeError } from "./types.ts";
export type { Decoder, DecoderConfig, DecoderEnv, DecoderFactory } from "./types.ts";

/** Every decoder by config name. */
export const DECODERS: Readonly<Record<string, DecoderFactory>> = {
  cgroup: cgroupDecoder,
  dname: dnameDecoder,
  errno: errnoDecoder,
  hex: hexDecoder,
  ifname: ifnameDecoder,
  inet_ip: inetIpDecoder,
  kstack: kstackDecoder,
  ksym: ksymDecoder,
  majorminor: majorminorDecoder,
  pci_class: pciClassDecoder,
  pci_device: pciDeviceDecoder,
  pci_subclass: pciSubclassDecoder,
  pci_vendor: pciVendorDecoder,
  regexp: regexpDecoder,
  static_map: staticMapDecoder,
  string: stringDecoder,
  syscall: syscallDecoder,
  uint: uintDecoder,
};

/** Creates the decoder `config.name`; throws `Error` for an unknown name or bad settings. */
export function createDecoder(config: DecoderConfig, env: DecoderEnv = {}): Decoder {
  const factory = Object.hasOwn(DECODERS, config.name) ? DECODERS[config.name] : undefined;
  if (!factory) {
    throw new Error(
      `unknown decoder "${config.name}" (known: ${Object.keys(DECODERS).sort().join(", ")})`,
    );
  }
  return factory(config, env);
}

/** A label's decoding: the field at `off` of a record to its value; `null` skips the record. */
export type FieldDecoder = (buf: Uint8Array, off: number) => AttributeValue | null;

/**
 * Chains `decoders` for a field of `size` bytes. With `typed`, a lone
 * decoder that has a typed form (`uint`) yields it; otherwise text.
 */
export function chainDecoders(decoders: Decoder[], size: number, typed = true): FieldDecoder {
  if (decoders.length === 0) throw new Error("a label needs at least one decoder");
  const [first, ...rest] = decoders;
  if (rest.length === 0) {
    if (typed && first.value) {
      const value = first.value;
      return (buf, off) => value(buf, off, size);
    }
    return (buf, off) => first.bytes(buf, off, size);
  }
  return (buf, off) => {
    let v = first.bytes(buf, off, size);
    for (let i = 0; i < rest.length && v !== null; i++) v = rest[i].text(v);
    return v;
  };
}
