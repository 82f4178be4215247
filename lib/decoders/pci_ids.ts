/**
 * The PCI id database (`pci.ids`): vendor, device, class and subclass names.
 * Loaded once per path; absent database → `undefined` (decoders then print
 * raw ids).
 * @module
 */

/** Names keyed by lowercase hex ids. */
export interface PciDb {
  /** `8086` → vendor. */
  vendors: Map<string, string>;
  /** `80861234` (vendor + device) → device. */
  devices: Map<string, string>;
  /** `02` → class. */
  classes: Map<string, string>;
  /** `0200` (class + subclass) → subclass. */
  subclasses: Map<string, string>;
}

/** Default places of the database. */
export const PCI_IDS_PATHS: readonly string[] = [
  "/usr/share/misc/pci.ids",
  "/usr/share/hwdata/pci.ids",
];

/** Parses pci.ids text. */
export function parsePciIds(text: string): PciDb {
  const db: PciDb = {
    vendors: new Map(),
    devices: new Map(),
    classes: new Map(),
    subclasses: new Map(),
  };
  let vendor: string | undefined;
  let klass: string | undefined;
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    let m: RegExpExecArray | null;
    if ((m = /^C ([0-9a-fA-F]{2})\s+(.*)$/.exec(line))) {
      klass = m[1].toLowerCase();
      vendor = undefined;
      db.classes.set(klass, m[2].trim());
    } else if ((m = /^([0-9a-fA-F]{4})\s+(.*)$/.exec(line))) {
      vendor = m[1].toLowerCase();
      klass = undefined;
      db.vendors.set(vendor, m[2].trim());
    } else if ((m = /^\t([0-9a-fA-F]{4})\s+(.*)$/.exec(line)) && vendor) {
      db.devices.set(vendor + m[1].toLowerCase(), m[2].trim());
    } else if ((m = /^\t([0-9a-fA-F]{2})\s+(.*)$/.exec(line)) && klass) {
      db.subclasses.set(klass + m[1].toLowerCase(), m[2].trim());
    }
  }
  return db;
}

const loaded = new Map<string, PciDb | null>();

/** The first database found among `paths`, or `undefined`. */
export function pciDb(paths: readonly string[] = PCI_IDS_PATHS): PciDb | undefined {
  for (const p of paths) {
    let db = loaded.get(p);
    if (db === undefined) {
      try {
        db = parsePciIds(Deno.readTextFileSync(p));
      } catch {
        db = null;
      }
      loaded.set(p, db);
    }
    if (db) return db;
  }
  return undefined;
}

/** `n` as `width` lowercase hex digits. */
export function hexId(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}
