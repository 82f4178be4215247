/**
 * Relative paths are the user's (issue 9 defect 6): through `deno task
 * start`, which runs in the repository, a relative `--config`, `--probe`,
 * `--binary`, `--bpftrace`, `--output file:` and `--param` path resolve
 * against the directory the user ran the command in, before the sandbox is
 * entered: no raw `--allow-read` message, nothing written to the repository.
 */
import { ok, strictEqual } from "node:assert/strict";
import { ROOT } from "./support/ebpf.ts";
import { writeFakeBpftrace, writeReplay } from "./support/replay.ts";

async function task(cwd: string, args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", `${ROOT}deno.json`, "start", ...args],
    cwd,
    // a user's shell: no INIT_CWD inherited from a task that runs this test (deno task sets its own)
    clearEnv: true,
    env: Object.fromEntries(
      ["PATH", "HOME", "DENO_DIR"].flatMap((k) => (Deno.env.get(k) === undefined ? [] : [[k, Deno.env.get(k)!]])),
    ),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

Deno.test("deno task start from another folder: relative paths resolve there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-relative-" });
  try {
    await writeReplay(`${dir}/replay.ndjson`, 3);
    await writeFakeBpftrace(dir, `${dir}/replay.ndjson`);
    const spec = (await Deno.readTextFile(`${ROOT}probes/usdt-requests.yaml`)).replace(
      "script: usdt-requests.bt",
      "script: probe.bt",
    );
    await Deno.writeTextFile(`${dir}/probe.yaml`, spec);
    await Deno.copyFile(`${ROOT}probes/usdt-requests.bt`, `${dir}/probe.bt`);
    await Deno.writeTextFile(`${dir}/agent.yaml`, "log:\n  level: info\n");
    // the config file's own relative paths are the user's too
    await Deno.writeTextFile(
      `${dir}/probes.yaml`,
      "probes:\n  - probe: probe.yaml\n    params:\n      binary: bpftrace\noutputs: [file:from-config.json]\nbpftrace: ./bpftrace\n",
    );

    const run = await task(dir, [
      "--config",
      "agent.yaml",
      "--probe",
      "./probe.yaml",
      "--binary",
      "bpftrace",
      "--bpftrace",
      "./bpftrace",
      "--output",
      "file:spans.json",
    ]);
    strictEqual(run.code, 0, run.stderr);
    ok(!run.stderr.includes("--allow-read"), run.stderr);
    const lines = (await Deno.readTextFile(`${dir}/spans.json`)).trim().split("\n");
    ok(lines.length >= 1 && lines.join("").includes("r-2"), "the spans went to the user's folder");
    let inRepo = true;
    try {
      await Deno.stat(`${ROOT}spans.json`);
    } catch {
      inRepo = false;
    }
    ok(!inRepo, "nothing written to the repository");

    const viaConfig = await task(dir, ["--config", "probes.yaml"]);
    strictEqual(viaConfig.code, 0, viaConfig.stderr);
    ok(
      (await Deno.readTextFile(`${dir}/from-config.json`)).includes("r-2"),
      "the config's output is in the user's folder",
    );

    const viaParam = await task(dir, ["check", "--probe", "probe.yaml", "--param", "binary=bpftrace"]);
    strictEqual(viaParam.code, 0, viaParam.stderr);
    ok(viaParam.stdout.includes(`ok  probe (bpftrace) ${dir}/probe.yaml`), viaParam.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
