/**
 * Wall-clock steps after calibration (issue 9 defect 9): bpftrace 0.17
 * repeats the boot→wall offset it measured at start-up, so a step of the
 * wall clock must be seen in the agent's own clocks (wall − monotonic),
 * re-anchor the boot-clock offset, and be counted. The detector's clock
 * reading is injected, so the test steps a clock without touching the
 * machine's.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { parseProbeSpec } from "../lib/config/probe_spec.ts";
import { createClockOffsets } from "../lib/core/clock.ts";
import { createWallStepDetector } from "../lib/core/clock_step.ts";
import type { BpftraceRecord } from "../lib/streams/bpftrace_records.ts";
import { CLOCK_EVENT, probeEventMapper } from "../lib/streams/probe_events.ts";

const SPEC = parseProbeSpec(
  "boot.yaml",
  "events:\n  io:\n    t0: boottime_ns\nspans:\n  - name: io\n    complete: {event: io, start: t0}\n",
);

const calib = (bootNs: number, epoch: string): BpftraceRecord => ({
  type: "tuple",
  values: [CLOCK_EVENT, bootNs, epoch],
});

Deno.test("detector: reports a step once it passes the threshold, each new one once", () => {
  let reading: bigint | undefined = 5_000_000_000n;
  const d = createWallStepDetector({ wallMinusMonotonicNs: () => reading });
  strictEqual(d.poll(), undefined, "unanchored");
  d.anchor();
  reading += 1_000_000n; // 1 ms: Date.now()'s granularity, no step
  strictEqual(d.poll(), undefined);
  reading += 3_000_000_000n;
  strictEqual(d.poll(), 3_001_000_000n);
  strictEqual(d.poll(), undefined, "reported once");
  reading -= 10_000_000_000n;
  strictEqual(d.poll(), -6_999_000_000n);
  const last = reading;
  reading = undefined; // a read interrupted (preempted): no step, no anchor lost
  strictEqual(d.poll(), undefined);
  reading = last;
  strictEqual(d.poll(), undefined);
});

Deno.test("probeEventMapper: a wall-clock step after calibration re-anchors boot-clock times and is counted", async () => {
  const clocks = createClockOffsets();
  let reading = 0n;
  const steps: bigint[] = [];
  let calibrations = 0;
  const mapper = probeEventMapper(SPEC.events, clocks, {
    stepDetector: createWallStepDetector({ wallMinusMonotonicNs: () => reading }),
    onClockStep: (d) => steps.push(d),
    onCalibration: () => calibrations++,
  });
  const writer = mapper.writable.getWriter();
  void mapper.readable.pipeTo(new WritableStream());
  const base = 1795313354000001000n - 1000n;

  await writer.write([calib(1000, "1795313354.000001")]);
  strictEqual(clocks.get("boottime"), base);
  reading = 1_000_000n; // noise
  await writer.write([]);
  strictEqual(clocks.get("boottime"), base);
  reading = 2_500_000_000n; // the clock was synchronised: +2.5 s
  await writer.write([]);
  strictEqual(clocks.get("boottime"), base + 2_500_000_000n, "re-anchored");
  await writer.write([calib(10_001_000, "1795313354.010001")]); // bpftrace repeats its start-up offset
  strictEqual(clocks.get("boottime"), base + 2_500_000_000n, "the stale calibration does not undo the step");
  reading = 1_500_000_000n; // stepped back 1 s
  await writer.write([]);
  strictEqual(clocks.get("boottime"), base + 1_500_000_000n);
  strictEqual(clocks.toWall("boottime", 2000n), base + 1_500_000_000n + 2000n);
  // a restarted bpftrace measures a new offset: that one holds, steps count from it
  await writer.write([calib(20_000, "1795313355.500021")]);
  strictEqual(clocks.get("boottime"), 1795313355500021000n - 20_000n);
  await writer.write([]);
  strictEqual(clocks.get("boottime"), 1795313355500021000n - 20_000n);
  deepStrictEqual(steps, [2_500_000_000n, -1_000_000_000n]);
  strictEqual(calibrations, 3);
  await writer.close();
});
