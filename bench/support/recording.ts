/**
 * The recorded bpftrace stream the benchmarks replay: request_start /
 * request_end tuple lines exactly as bpftrace 0.17 prints them for the
 * bundled usdt-requests probe (shape checked against real bpftrace by the
 * end-to-end tests), ~1 in 25 lines swapped with its neighbour as per-CPU
 * buffers do, and one error event per 10 requests.
 * @module
 */

/** Writes `requests` requests (≥ 2 lines each) to `path` unless it exists; returns the line count. */
export async function ensureRecording(path: string, requests: number): Promise<number> {
  try {
    const text = await Deno.readTextFile(path);
    return text.split("\n").length - 1;
  } catch { /* record it */ }
  const lines: string[] = [];
  let t = 1795313354907507123n;
  for (let i = 0; i < requests; i++) {
    const pid = 4200 + (i % 3);
    const tid = 5000 + (i % 8);
    const id = i % 7 === 3 ? `q\\"${i}\\\\x\\t` : `req-${i}-abc`;
    const dur = BigInt(50_000 + (i * 7919) % 200_000);
    lines.push(`{"type": "value", "data": ["request_start",${pid},${tid},"${id}",${t}]}`);
    if (i % 10 === 9) {
      lines.push(
        `{"type": "value", "data": ["request_error",${pid},${tid},"${id}","backend said \\"no\\"",${
          158474033111 + i
        }]}`,
      );
    }
    lines.push(
      `{"type": "value", "data": ["request_end",${pid},${tid},"${id}",${t},${dur},${i % 10 === 9 ? 503 : 200}]}`,
    );
    t += 500_000n;
  }
  for (let i = 0; i + 1 < lines.length; i += 25) [lines[i], lines[i + 1]] = [lines[i + 1], lines[i]];
  // a calibration record first (the probe reads a boot-clock field)
  lines.unshift(`{"type": "value", "data": ["__spanprobe_clock",158474033111,1795313354.907507]}`);
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return lines.length;
}
