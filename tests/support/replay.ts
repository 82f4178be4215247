/**
 * Recorded-style bpftrace output for the usdt-requests probe, replayed
 * through the real agent by tests/targets/fake_bpftrace.sh.
 * @module
 */

/** Wall-clock start of the first replayed request (ns). */
export const REPLAY_START_NS = 1795313693000000000n;

/** Writes `pairs` request_start/request_end pairs (ids `r-0`…), after a clock calibration record. */
export async function writeReplay(path: string, pairs: number): Promise<void> {
  const lines = [`{"type": "value", "data": ["__spanprobe_clock", 1000000000, "1795313000.000000"]}`];
  for (let i = 0; i < pairs; i++) {
    const start = REPLAY_START_NS + BigInt(i) * 1000n;
    lines.push(`{"type": "value", "data": ["request_start", 4242, 4243, "r-${i}", ${start}]}`);
    lines.push(`{"type": "value", "data": ["request_end", 4242, 4243, "r-${i}", ${start}, 500, 200]}`);
  }
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
}
