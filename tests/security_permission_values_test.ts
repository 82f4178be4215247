/**
 * Issue 10 item 3: every value that reaches a permission flag is validated in
 * lib/permissions.ts (no `,`, absolute, normalised, real path). Each hostile
 * value goes through the real launcher (`deno task start` = scripts/launch.ts)
 * and must stop it with exit 2 and a message naming the option, before any
 * agent runs; under the flags of a valid invocation, a test-only module is
 * still refused `/`.
 */
import assert, { strictEqual } from "node:assert/strict";
import { grantHost, grantPath, grantProgram, GrantValueError, permissionFlags } from "../lib/permissions.ts";
import { permissionsForRun } from "../scripts/launch.ts";
import { ROOT } from "./support/ebpf.ts";

const BIN = "/usr/bin/true";

async function launch(args: string[], cwd?: string): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/launch.ts`, "run", ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** A folder with a probe spec whose folder name holds a comma, a config file and a symlink to `/`. */
async function fixtures() {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "spanprobe-grants-" }));
  const commaDir = `${dir}/a,b`;
  await Deno.mkdir(commaDir);
  await Deno.copyFile(`${ROOT}probes/usdt-requests.yaml`, `${commaDir}/p.yaml`);
  await Deno.copyFile(`${ROOT}probes/usdt-requests.bt`, `${commaDir}/usdt-requests.bt`);
  await Deno.writeTextFile(`${dir}/agent.yaml`, `exporter:\n  spool_dir: "${dir}/x,/"\n`);
  await Deno.symlink("/", `${dir}/root-link`);
  return { dir, commaDir };
}

const base = ["--probe", "usdt-requests", "--binary", BIN];

Deno.test("launcher: a value that would widen a permission flag stops it with exit 2, naming the option", async () => {
  const { dir, commaDir } = await fixtures();
  try {
    const cases: [string, string[], RegExp][] = [
      [
        "--spool-dir with a comma",
        [...base, "--endpoint", "http://127.0.0.1:4318", "--spool-dir", "/tmp/x,/"],
        /--spool-dir "\/tmp\/x,\/": a ","/,
      ],
      [
        "spool_dir in --config",
        [...base, "--endpoint", "http://127.0.0.1:4318", "--config", `${dir}/agent.yaml`],
        /--spool-dir ".*x,\/": a ","/,
      ],
      [
        "--spool-dir through a symlink to /",
        [...base, "--spool-dir", `${dir}/root-link/tmp`],
        /symbolic link; pass its real path \/tmp/,
      ],
      ["--spool-dir not normalised", [...base, "--spool-dir", `${dir}/../../`], /not a normalised path/],
      ["--spool-dir /", [...base, "--spool-dir", "/"], /whole file system/],
      [
        "--output file: with a comma",
        [...base, "--output", "file:/tmp/out,/"],
        /--output file: "\/tmp\/out,\/": a ","/,
      ],
      [
        "--binary with a comma",
        ["--probe", "usdt-requests", "--binary", `${BIN},/`],
        /--binary "\/usr\/bin\/true,\/": a ","/,
      ],
      [
        "--param binary with a comma",
        ["--probe", "usdt-requests", "--param", "binary=/a,/"],
        /--param binary "\/a,\/": a ","/,
      ],
      [
        "--param scoped to the probe",
        ["--probe", "usdt-requests", "--param", "usdt-requests.binary=/a,/"],
        /--param usdt-requests\.binary/,
      ],
      [
        "--binary through a symlink",
        ["--probe", "usdt-requests", "--binary", `${dir}/root-link/usr/bin/true`],
        /symbolic link/,
      ],
      [
        "--bpftrace adding programs",
        [...base, "--bpftrace", "bpftrace,/bin/sh"],
        /--bpftrace "bpftrace,\/bin\/sh": a ","/,
      ],
      [
        "--bpftrace with ..",
        [...base, "--bpftrace", "/usr/bin/../bin/sh"],
        /--bpftrace "\/usr\/bin\/\.\.\/bin\/sh": not a normalised/,
      ],
      [
        "--endpoint host with a comma",
        [...base, "--endpoint", "http://a,b:4318"],
        /collector endpoint "a,b:4318": a ","/,
      ],
      [
        "a probe folder with a comma",
        ["--probe", `${commaDir}/p.yaml`, "--binary", BIN],
        /folder of probe .*a,b.*: a ","/,
      ],
    ];
    for (const [name, args, message] of cases) {
      const r = await launch(args);
      strictEqual(r.code, 2, `${name}: exit ${r.code}\n${r.stderr}`);
      assert(message.test(r.stderr), `${name}: unclear message:\n${r.stderr}`);
      assert(
        !/"msg"|probes attached|Task|at .*\.ts:\d+/.test(r.stderr),
        `${name}: the agent ran or a stack trace:\n${r.stderr}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launcher: relative paths become absolute grants; valid values still produce flags", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "spanprobe-grants-" }));
  try {
    const flags = permissionFlags(
      permissionsForRun([...base, "--endpoint", "http://127.0.0.1:4318", "--spool-dir", "spool"], () => undefined),
      { cwd: dir },
    );
    assert(flags.includes(`--allow-write=${dir}/spool`), flags.join(" "));
    const read = flags.find((f) => f.startsWith("--allow-read="))!.slice("--allow-read=".length).split(",");
    assert(read.includes(BIN) && read.includes(`${dir}/spool`), read.join(" "));
    assert(!read.includes("/"), read.join(" "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("permissions: grantPath/grantProgram/grantHost refuse every hostile form", () => {
  const hostilePaths = ["/tmp/x,/", "relative/../..", "/tmp//x", "/tmp/./x", "/tmp/x/", "/", "/tmp/\nx", ""];
  for (const v of hostilePaths) {
    let error: unknown;
    try {
      grantPath(v, "--spool-dir", "/tmp");
    } catch (e) {
      error = e;
    }
    assert(error instanceof GrantValueError, `grantPath accepted ${JSON.stringify(v)}`);
    assert((error as Error).message.includes("--spool-dir"), (error as Error).message);
  }
  strictEqual(grantPath("spool", "--spool-dir", "/tmp"), "/tmp/spool");
  for (const v of ["bpftrace,sh", "/bin/../bin/sh", "-x", "a b", ""]) {
    let threw = false;
    try {
      grantProgram(v, "--bpftrace", "/tmp");
    } catch (e) {
      threw = e instanceof GrantValueError;
    }
    assert(threw, `grantProgram accepted ${JSON.stringify(v)}`);
  }
  strictEqual(grantProgram("bpftrace", "--bpftrace"), "bpftrace");
  for (const v of ["a,b:1", "host:99999", "host", "h/x:1", "[::1]:1,x:2"]) {
    let threw = false;
    try {
      grantHost(v, "the collector endpoint");
    } catch (e) {
      threw = e instanceof GrantValueError;
    }
    assert(threw, `grantHost accepted ${JSON.stringify(v)}`);
  }
  strictEqual(grantHost("[::1]:4318", "x"), "[::1]:4318");
});

Deno.test("under a valid launcher set, reading / stays refused (the grant list was not widened)", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "spanprobe-grants-" }));
  try {
    const flags = permissionFlags(
      permissionsForRun(
        [...base, "--endpoint", "http://127.0.0.1:4318", "--spool-dir", `${dir}/spool`],
        () => undefined,
      ),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...flags,
        `${ROOT}tests/support/permission_attempts.ts`,
        JSON.stringify([["etc", "read", "/etc/hostname"], ["spool", "write", `${dir}/spool`]]),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
    strictEqual(lines[0].ok, false, JSON.stringify(lines[0]));
    strictEqual(lines[1].ok, true, JSON.stringify(lines[1]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
