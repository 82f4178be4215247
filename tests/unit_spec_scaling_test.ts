/**
 * Spec loading is linear in the spec's size (issue 9 defect 8: a 1 MB spec
 * took 30 s, the yaml package's duplicate-key check being quadratic). The
 * bound is a ratio measured in the same test — a 1 MB spec against a 100 KB
 * one, best of a few runs each, in CPU time (the machine is shared: wall
 * time would count other processes' load) — not an absolute time: linear
 * gives ≈10, quadratic ≈100.
 */
import { ok, throws } from "node:assert/strict";
import process from "node:process";
import { parseProbeSpec } from "../lib/config/probe_spec.ts";

/** A spec with `events` events of two fields each (~40 bytes per event). */
function bigSpec(events: number): string {
  const parts = ["script: big.bt\nevents:\n"];
  for (let i = 0; i < events; i++) parts.push(`  ev_${i}:\n    pid: int\n    id: string\n`);
  parts.push("spans:\n  - name: x\n    key: [pid]\n    start: { event: ev_0 }\n    end: { event: ev_1 }\n");
  return parts.join("");
}

/** The least CPU time (user + system, ms) of `runs` parses of `text`. */
function bestMs(text: string, runs: number): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.cpuUsage();
    parseProbeSpec("/specs/big.yaml", text);
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

Deno.test("a 1 MB spec loads within 30× the time of a 100 KB one (linear, not quadratic)", () => {
  const small = bigSpec(2_600);
  const large = bigSpec(26_000);
  ok(small.length > 95_000 && large.length > 1_000_000, `${small.length} / ${large.length} bytes`);
  bestMs(small, 2); // warm-up
  const smallMs = bestMs(small, 3);
  const largeMs = bestMs(large, 3);
  const ratio = largeMs / smallMs;
  console.log(`100 KB: ${smallMs.toFixed(0)} ms, 1 MB: ${largeMs.toFixed(0)} ms, ratio ${ratio.toFixed(1)}`);
  ok(ratio < 30, `ratio ${ratio.toFixed(1)} (linear ≈ 10, quadratic ≈ 100)`);
});

Deno.test("duplicate keys are still refused, with their line", () => {
  throws(
    () => parseProbeSpec("/specs/dup.yaml", bigSpec(3).replace("  ev_2:\n", "  ev_1:\n")),
    /\/specs\/dup\.yaml:9:3: invalid YAML: duplicate key "ev_1"/,
  );
});
