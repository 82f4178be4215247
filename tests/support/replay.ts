/**
 * Recorded-style bpftrace output for the usdt-requests probe, replayed
 * through the real agent by the stand-in bpftrace of {@linkcode writeFakeBpftrace}.
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

/**
 * Writes DIR/bpftrace: a stand-in for bpftrace (`spanprobe run --bpftrace
 * DIR/bpftrace`) that says "probes attached" the way bpftrace does when
 * `__BPFTRACE_NOTIFY_PROBES_ATTACHED` is set, then prints `outputPath` (a
 * file, or a FIFO the test writes later) as its output and exits 0. Its
 * arguments (the program) are ignored. The path is baked in: bpftrace gets
 * no environment from the agent beyond its own variables.
 */
export async function writeFakeBpftrace(dir: string, outputPath: string): Promise<string> {
  const path = `${dir}/bpftrace`;
  const quoted = `'${outputPath.replaceAll("'", `'\\''`)}'`;
  await Deno.writeTextFile(path, `#!/bin/sh\necho "__BPFTRACE_NOTIFY_PROBES_ATTACHED" >&2\nexec cat ${quoted}\n`);
  await Deno.chmod(path, 0o755);
  return path;
}
