/**
 * `deno task demo`: build the USDT demo target, then run spanprobe (under its
 * least-privilege permission set) with the bundled usdt-requests probe; it
 * starts the target once probes are attached and ends when the target does.
 * Spans are printed on stdout. SIGINT/SIGTERM are passed on and the demo
 * exits with the agent's code once it has stopped.
 * @module
 */
import { fileURLToPath } from "node:url";
import { exitWithChild } from "./launch.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const target = `${root}.cache/usdt_requests`;
await Deno.mkdir(`${root}.cache`, { recursive: true });
const cc = await new Deno.Command("cc", {
  args: ["-O2", "-pthread", "-o", target, `${root}tests/targets/usdt_requests.c`],
}).output();
if (!cc.success) Deno.exit(1);
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    `${root}scripts/launch.ts`,
    "run",
    "--probe",
    "usdt-requests",
    "--binary",
    target,
    "--command",
    `${target} --requests 24 --threads 2 --rate 8 --error-every 6`,
    ...Deno.args,
  ],
}).spawn();
// Ctrl-C or SIGTERM: the agent stops in order (summary, exit code); the demo waits for it, not dies first
await exitWithChild(child);
