/**
 * `pci_class`: a PCI class code (8 bits) as its name, from the PCI id database; without the database the
 * raw id as `0x<hex>`.
 * @module
 */
import { numericText, parseUintText } from "./bytes.ts";
import { hexId, pciDb } from "./pci_ids.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `pci_class` decoder. */
export const pciClassDecoder: DecoderFactory = (_config, env) => {
  const text = (input: string) => {
    const n = parseUintText(input, "pci_class");
    const key = hexId(n, 2);
    const db = pciDb(env.pciIdsPaths);
    if (!db) return `0x${key}`;
    return db.classes.get(key) ?? `unknown pci class: 0x${key}`;
  };
  return {
    name: "pci_class",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
