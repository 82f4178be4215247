/**
 * `pci_vendor`: a PCI vendor id (e.g. 0x8086) as its name, from the PCI id database; without the database the
 * raw id as `0x<hex>`.
 * @module
 */
import { numericText, parseUintText } from "./bytes.ts";
import { hexId, pciDb } from "./pci_ids.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `pci_vendor` decoder. */
export const pciVendorDecoder: DecoderFactory = (_config, env) => {
  const text = (input: string) => {
    const n = parseUintText(input, "pci_vendor");
    const key = hexId(n, 4);
    const db = pciDb(env.pciIdsPaths);
    if (!db) return `0x${key}`;
    return db.vendors.get(key) ?? `unknown pci vendor: 0x${key}`;
  };
  return {
    name: "pci_vendor",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
