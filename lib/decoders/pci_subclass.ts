/**
 * `pci_subclass`: a PCI class and subclass as (class << 8 | subclass) as the subclass name, from the PCI id database; without the database the
 * raw id as `0x<hex>`.
 * @module
 */
import { numericText, parseUintText } from "./bytes.ts";
import { hexId, pciDb } from "./pci_ids.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `pci_subclass` decoder. */
export const pciSubclassDecoder: DecoderFactory = (_config, env) => {
  const text = (input: string) => {
    const n = parseUintText(input, "pci_subclass");
    const key = hexId(n, 4);
    const db = pciDb(env.pciIdsPaths);
    if (!db) return `0x${key}`;
    return db.subclasses.get(key) ?? `unknown pci subclass: 0x${key}`;
  };
  return {
    name: "pci_subclass",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
