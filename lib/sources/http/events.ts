/**
 * The records probes/http.bpf.c writes to its `http_events` ring buffer:
 * a 96-byte header (`struct http_event`) and the captured bytes.
 * @module
 */

/** Size of `struct http_event`. */
export const EVENT_HEADER_BYTES = 96;

/** `enum http_kind`. */
export const EventKind = { ACCEPT: 1, CONNECT: 2, RECV: 3, SEND: 4, CLOSE: 5, EXEC: 6, EXIT: 7 } as const;

/** One of the {@linkcode EventKind} values. */
export type EventKindValue = typeof EventKind[keyof typeof EventKind];

/** A decoded event. `data` views the ring: valid only during the call that receives it. */
export interface HttpEvent {
  kind: EventKindValue;
  /** Syscall entry and exit, CLOCK_MONOTONIC ns. */
  startNs: bigint;
  endNs: bigint;
  /** The kernel socket's address (low 48 bits): the connection's identity while it lives. */
  sock: number;
  /** Bytes moved, the new fd (accept), or -errno. */
  ret: number;
  pid: number;
  tid: number;
  lport: number;
  rport: number;
  /** Where the header's address fields are, for {@linkcode addressesOf}. */
  headerOffset: number;
  /** The captured bytes. */
  data: Uint8Array;
}

/** The 4-tuple of an event, as text (IPv4-mapped IPv6 addresses as plain IPv4). */
export interface Addresses {
  local: string;
  remote: string;
}

let view: DataView = new DataView(new ArrayBuffer(0));
let viewOf: Uint8Array | undefined;

/**
 * Decodes the record at `buf[off, off + len)` into `out` (reused between
 * calls). Throws when the record is shorter than its header says.
 */
export function decodeEvent(buf: Uint8Array, off: number, len: number, out: HttpEvent): HttpEvent {
  if (len < EVENT_HEADER_BYTES) throw new Error(`http event of ${len} bytes (header is ${EVENT_HEADER_BYTES})`);
  if (viewOf !== buf) {
    // one view per ring mapping, not one per record
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    viewOf = buf;
  }
  const v = view;
  const captured = v.getUint32(off + 44, true);
  if (EVENT_HEADER_BYTES + captured > len) {
    throw new Error(`http event says ${captured} captured bytes but has ${len - EVENT_HEADER_BYTES}`);
  }
  out.startNs = v.getBigUint64(off, true);
  out.endNs = v.getBigUint64(off + 8, true);
  out.sock = (v.getUint32(off + 20, true) & 0xffff) * 0x1_0000_0000 + v.getUint32(off + 16, true);
  out.ret = v.getInt32(off + 28, true) * 0x1_0000_0000 + v.getUint32(off + 24, true); // s64, exact below 2^53
  out.pid = v.getUint32(off + 32, true);
  out.tid = v.getUint32(off + 36, true);
  out.lport = v.getUint16(off + 48, true);
  out.rport = v.getUint16(off + 50, true);
  out.kind = v.getUint8(off + 52) as EventKindValue;
  out.headerOffset = off;
  out.data = buf.subarray(off + EVENT_HEADER_BYTES, off + EVENT_HEADER_BYTES + captured);
  return out;
}

/** An empty event to decode into. */
export function blankEvent(): HttpEvent {
  return {
    kind: EventKind.RECV,
    startNs: 0n,
    endNs: 0n,
    sock: 0,
    ret: 0,
    pid: 0,
    tid: 0,
    lport: 0,
    rport: 0,
    headerOffset: 0,
    data: new Uint8Array(0),
  };
}

function ipText(b: Uint8Array, at: number, family: number): string {
  if (family === 2) return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  // ::ffff:a.b.c.d (a dual-stack socket talking IPv4)
  let mapped = b[at + 10] === 0xff && b[at + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[at + i] !== 0) mapped = false;
  if (mapped) return `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[at + i] << 8) | b[at + i + 1]).toString(16));
  // compress the longest run of zero groups
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** The local and remote address of `ev` (read from the ring: call while `buf` is valid). */
export function addressesOf(buf: Uint8Array, ev: HttpEvent): Addresses {
  const family = buf[ev.headerOffset + 53];
  return {
    local: ipText(buf, ev.headerOffset + 56, family),
    remote: ipText(buf, ev.headerOffset + 72, family),
  };
}
