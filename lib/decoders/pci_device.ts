/**
 * `pci_device`: a PCI device as (vendor << 16 | device) as its name, from the PCI id database; without the database the
 * raw id as `0x<hex>`.
 * @module
 */
import { numericText, parseUintText } from "./bytes.ts";
import { hexId, pciDb } from "./pci_ids.ts";
import type { DecoderFactory } from "./types.ts";

/** Creates a `pci_device` decoder. */
export const pciDeviceDecoder: DecoderFactory = (_config, env) => {
  const text = (input: string) => {
    const n = parseUintText(input, "pci_device");
    const key = hexId(n, 8);
    const db = pciDb(env.pciIdsPaths);
    if (!db) return `0x${key}`;
    return db.devices.get(key) ?? `unknown pci device: 0x${key}`;
  };
  return {
    name: "pci_device",
    bytes: (buf, off, len) => text(numericText(buf, off, len)),
    text,
  };
};
