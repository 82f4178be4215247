/**
 * `spanprobe probes`, the first command a new user runs (issue 17): every
 * bundled probe is listed with its kind and a description — the ring-buffer
 * ones used to show none — and a ring-buffer config's `description:` must be
 * one line of text (refused with file and line otherwise).
 */
import { match, ok, strictEqual, throws } from "node:assert/strict";
import { listBundledProbes } from "../lib/config/probe_catalog.ts";
import { parseTracingConfig } from "../lib/config/tracing_config.ts";
import { runSpanprobe } from "./support/ebpf.ts";

Deno.test("spanprobe probes: every bundled probe has a description", async () => {
  const r = await runSpanprobe(["probes"]);
  strictEqual(r.code, 0, r.stderr);
  const probes = listBundledProbes();
  ok(probes.some((p) => p.kind === "ringbuf"), "ring-buffer probes are bundled");
  for (const p of probes) {
    ok(p.description.length > 10, `${p.name} has a description`);
    const line = r.stdout.split("\n").find((l) => l.startsWith(`${p.name} `));
    match(line ?? "", new RegExp(`^${p.name}\\s+${p.kind}\\s+\\S`), `listed with its description:\n${r.stdout}`);
  }
});

Deno.test("a ring-buffer config's description must be text", () => {
  const spans =
    "tracing:\n  spans:\n    - ringbuf: r\n      labels:\n        - { name: span_id, size: 8, decoders: [{ name: hex }] }\n";
  throws(
    () => parseTracingConfig("x.yaml", `description: [a, b]\n${spans}`),
    /^UserError: x\.yaml:1:14: description must be/,
  );
});
