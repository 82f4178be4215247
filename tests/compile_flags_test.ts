/**
 * `deno task compile`: the argv it hands to `deno compile` carries exactly the
 * deploy permission set of lib/permissions.ts, embeds probes/, and the same
 * flags run the agent end to end through `deno run` (denort, the runtime
 * `deno compile` needs, cannot be downloaded here; with DENORT_BIN set the
 * binary is built and run for real).
 */
import assert, { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { DENIED_NET, deployPermissions, ENV_VARS, permissionFlags } from "../lib/permissions.ts";
import { buildEmbeddedObjects, compileArgs, compilePermissionFlags, deployRunFlags } from "../scripts/compile.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { announceSkip, buildTarget, ebpfSkipReason, hexOf, readTruth, ROOT } from "./support/ebpf.ts";

const dec = new TextDecoder();

async function printedArgv(env: Record<string, string> = {}, extra: string[] = []) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "compile", "--print", ...extra],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    argv: out.success ? JSON.parse(dec.decode(out.stdout)) as string[] : [],
    stderr: dec.decode(out.stderr),
  };
}

function flagValue(flags: string[], name: string): string | undefined {
  const f = flags.find((x) => x.startsWith(`${name}=`));
  return f?.slice(name.length + 1);
}

Deno.test("deno task compile hands deno compile exactly lib/permissions.ts's deploy set, probes and objects embedded", async () => {
  const { code, argv, stderr } = await printedArgv();
  strictEqual(code, 0, stderr);
  deepStrictEqual(argv.slice(1), compileArgs());
  const flags = argv.slice(3, 3 + permissionFlags(deployPermissions()).length);
  deepStrictEqual(argv.slice(1, 3), ["compile", "--frozen"]);
  deepStrictEqual(flags, permissionFlags(deployPermissions()), "the baked flags are the single source of truth's");
  deepStrictEqual(argv.slice(3 + flags.length), [
    "--include",
    "probes/",
    "--include",
    "dist/bpf/",
    "--output",
    "dist/spanprobe",
    "main.ts",
  ]);
  // the set, spelled out
  strictEqual(flagValue(flags, "--allow-run"), "/usr/bin/bpftrace", "no compiler: prebuilt objects only");
  strictEqual(flagValue(flags, "--allow-read"), "/etc/spanprobe,/targets,/var/lib/spanprobe,/usr/share/misc/pci.ids");
  strictEqual(flagValue(flags, "--allow-write"), "/var/lib/spanprobe");
  strictEqual(flagValue(flags, "--allow-env"), ENV_VARS.join(","));
  strictEqual(flagValue(flags, "--allow-sys"), "hostname");
  assert(flags.includes("--allow-net"));
  strictEqual(flagValue(flags, "--deny-net"), DENIED_NET.join(","));
  assert(flags.includes("--allow-ffi"), "the ring-buffer source's FFI is baked in (docs/permissions.md)");
  assert(!flags.some((f) => /^--allow-(all|read|write|run|env)$/.test(f) || f === "-A"), "no unscoped grant");
});

Deno.test("--profile bpftrace: the narrower binary, no FFI and no objects; a bad profile is refused", async () => {
  const { code, argv, stderr } = await printedArgv({}, ["--profile", "bpftrace"]);
  strictEqual(code, 0, stderr);
  deepStrictEqual(argv.slice(1), compileArgs({ profile: "bpftrace" }));
  assert(!argv.includes("--allow-ffi") && !argv.includes("dist/bpf/"));
  assert(argv.includes("--allow-run=/usr/bin/bpftrace"));
  const bad = await printedArgv({}, ["--profile", "ebpf"]);
  strictEqual(bad.code, 2);
  match(bad.stderr, /--profile ebpf: expected full .* or bpftrace/);
});

Deno.test("SPANPROBE_ALLOW_NET narrows the baked network to the collector; a typo is an error, not a wider set", async () => {
  const narrowed = await printedArgv({ SPANPROBE_ALLOW_NET: "otel-collector:4318,[fd00::1]:4318" });
  strictEqual(narrowed.code, 0, narrowed.stderr);
  deepStrictEqual(narrowed.argv.slice(1), compileArgs({ net: ["otel-collector:4318", "[fd00::1]:4318"] }));
  assert(narrowed.argv.includes("--allow-net=otel-collector:4318,[fd00::1]:4318"));
  assert(!narrowed.argv.some((a) => a === "--allow-net" || a.startsWith("--deny-net")));
  const flag = await printedArgv({}, ["--allow-net", "collector.example:443"]);
  assert(flag.argv.includes("--allow-net=collector.example:443"));
  for (const bad of ["otel-collector", "http://otel-collector:4318", "fd00::1:4318", "a:99999"]) {
    const r = await printedArgv({ SPANPROBE_ALLOW_NET: bad });
    strictEqual(r.code, 2, `${bad} must be refused`);
    assert(/expected host:port/.test(r.stderr), r.stderr);
  }
});

Deno.test("the deno run stand-in differs from the baked set only by the checkout's probes/ and dist/bpf/", () => {
  const baked = compilePermissionFlags();
  const run = deployRunFlags();
  deepStrictEqual(run.map((f) => f.replace(`,${ROOT}probes,${ROOT}dist/bpf`, "")), baked);
  assert(flagValue(run, "--allow-read")!.split(",").includes(`${ROOT}probes`));
  const narrow = deployRunFlags({ profile: "bpftrace" });
  deepStrictEqual(narrow.map((f) => f.replace(`,${ROOT}probes`, "")), compilePermissionFlags({ profile: "bpftrace" }));
});

async function agent(flags: string[], args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}main.ts`, ...args],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("under the deploy flags: probes lists the bundled probes, check validates them", async () => {
  await buildEmbeddedObjects(); // what deno task compile embeds
  const flags = deployRunFlags();
  const probes = await agent(flags, ["probes"]);
  strictEqual(probes.code, 0, probes.stderr);
  assert(/^usdt-requests\s+bpftrace/m.test(probes.stdout), probes.stdout);
  const check = await agent(flags, ["check"]);
  strictEqual(check.code, 0, check.stderr);
  // no clang on PATH (none granted either): the bundled ring-buffer probes are checked from their prebuilt objects
  assert(
    /^ok {2}exec-trace \(ringbuf\) .* object \S+\/dist\/bpf\/exec-trace\.bpf\.o$/m.test(check.stdout),
    check.stdout,
  );
  const version = await agent(flags, ["--version"]);
  assert(/^spanprobe \S+/.test(version.stdout));
  // a target outside /targets: refused before anything is attached, saying why
  const outside = await agent(flags, ["check", "--probe", "usdt-requests", "--binary", "/usr/bin/env"]);
  strictEqual(outside.code, 2, outside.stderr);
  assert(
    /parameter binary: \/usr\/bin\/env: Requires read access to "\/usr\/bin\/env"/.test(outside.stderr),
    outside.stderr,
  );
});

const skipEbpf = announceSkip("compile_flags_test.ts", ebpfSkipReason());

Deno.test({
  name: "under the deploy flags: config in etc, target in targets, OTLP from env and a file in state — end to end",
  ignore: skipEbpf,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-deploy-" });
    const paths = { config: `${dir}/etc`, targets: `${dir}/targets`, state: `${dir}/state` };
    for (const p of Object.values(paths)) await Deno.mkdir(p);
    const target = `${paths.targets}/usdt_requests`;
    await Deno.copyFile(await buildTarget("usdt_requests"), target);
    await Deno.chmod(target, 0o755);
    await Deno.writeTextFile(
      `${paths.config}/config.yaml`,
      [
        "probes:",
        "  - probe: usdt-requests",
        "    params:",
        `      binary: ${target}`,
        "outputs: [otlp, file:" + `${paths.state}/spans.json]`,
        "",
      ].join("\n"),
    );
    const receiver = await startOtlpReceiver();
    try {
      const requests = 50;
      // the deploy set with its folders moved to the temp dir, plus the probes stand-in
      const flags = permissionFlags(deployPermissions({ paths, extraRead: [`${ROOT}probes`] }));
      const truthPath = `${paths.state}/truth.txt`;
      const r = await agent(flags, [
        "run",
        "--config",
        `${paths.config}/config.yaml`,
        "--command",
        `${target} --requests ${requests} --threads 2 --rate 400 --truth ${truthPath}`,
        "--log-format",
        "json",
      ], { PATH: "/usr/bin:/bin", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.baseUrl });
      strictEqual(r.code, 0, r.stderr);
      const truth = await readTruth(truthPath);
      strictEqual(truth.length, requests);
      strictEqual(receiver.spans.length, requests, "every request exported over OTLP");
      const ids = new Set(receiver.spans.map((s) => hexOf(s.attributes["request.id"])));
      for (const t of truth) assert(ids.has(t.idHex), `span for ${t.idHex}`);
      const file = await Deno.readTextFile(`${paths.state}/spans.json`);
      assert(file.includes('"resourceSpans"'), "the file output was written in the state folder");
    } finally {
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "under the deploy flags, no clang on PATH: exec-trace (embedded object) and a user's prebuilt .bpf.o, end to end",
  ignore: skipEbpf,
  async fn() {
    await buildEmbeddedObjects();
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-deploy-rb-" });
    const paths = { config: `${dir}/etc`, targets: `${dir}/targets`, state: `${dir}/state` };
    for (const p of Object.values(paths)) await Deno.mkdir(p);
    const target = `${paths.targets}/usdt_requests`;
    await Deno.copyFile(await buildTarget("usdt_requests"), target);
    await Deno.chmod(target, 0o755);
    // an ebpf_exporter-style probe: mine.yaml with a prebuilt mine.bpf.o beside it, no source
    await Deno.mkdir(`${paths.config}/probes`);
    await Deno.copyFile(`${ROOT}dist/bpf/exec-trace.bpf.o`, `${paths.config}/probes/mine.bpf.o`);
    await Deno.writeTextFile(
      `${paths.config}/probes/mine.yaml`,
      Deno.readTextFileSync(`${ROOT}probes/exec-trace.yaml`).replace("service: exec-trace", "service: mine"),
    );
    await Deno.writeTextFile(
      `${paths.config}/config.yaml`,
      [
        "probes:", // ring-buffer probes first: attached before bpftrace starts the command
        "  - probe: exec-trace",
        `  - probe: ${paths.config}/probes/mine.yaml`,
        "  - probe: usdt-requests",
        "    params:",
        `      binary: ${target}`,
        "outputs: [otlp]",
        "bpftrace: /usr/bin/bpftrace",
        "",
      ].join("\n"),
    );
    const receiver = await startOtlpReceiver();
    try {
      const requests = 20;
      const flags = permissionFlags(
        deployPermissions({ paths, extraRead: [`${ROOT}probes`, `${ROOT}dist/bpf`] }),
      );
      const r = await agent(flags, [
        "run",
        "--config",
        `${paths.config}/config.yaml`,
        "--command",
        `${target} --requests ${requests} --threads 2 --rate 400 --truth ${paths.state}/truth.txt`,
        "--log-format",
        "json",
      ], { PATH: "/nonexistent", OTEL_EXPORTER_OTLP_ENDPOINT: receiver.baseUrl });
      strictEqual(r.code, 0, r.stderr);
      assert(!/\bat \S+:\d+:\d+/.test(r.stderr), "no stack trace");
      strictEqual(receiver.spans.filter((s) => s.attributes["request.id"] !== undefined).length, requests);
      for (const service of ["exec-trace", "mine"]) {
        const execs = receiver.spans.filter((s) =>
          s.resource["service.name"] === service && s.attributes["process.executable.path"] === target
        );
        strictEqual(execs.length, 1, `${service}: one exec span of the command`);
        strictEqual(execs[0].name, "usdt_requests");
        assert(execs[0].endNs > execs[0].startNs, "ended at its exit");
      }
    } finally {
      await receiver.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function denortReason(): string | undefined {
  const bin = Deno.env.get("DENORT_BIN");
  if (!bin) {
    return "DENORT_BIN is not set: denort cannot be downloaded here, so the binary itself is not built " +
      "(the flags are checked above; see docs/deploy.md to build on a connected machine)";
  }
  try {
    Deno.statSync(bin);
  } catch {
    return `DENORT_BIN=${bin} does not exist`;
  }
  return undefined;
}

// CI cannot download denort: not an eBPF skip, allowed there
const skipDenort = announceSkip("compile_flags_test.ts (real compile)", denortReason(), { requiredInCi: false });

Deno.test({
  name: "with DENORT_BIN: dist/spanprobe builds and runs with the embedded probes, objects and the baked set",
  ignore: skipDenort,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "spanprobe-compile-" });
    try {
      const output = `${dir}/spanprobe`;
      const build = await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "compile", "--output", output],
        cwd: ROOT,
        stderr: "piped",
      }).output();
      strictEqual(build.code, 0, dec.decode(build.stderr));
      const probes = await new Deno.Command(output, { args: ["probes"], clearEnv: true, stdout: "piped" }).output();
      assert(/^usdt-requests\s+bpftrace/m.test(dec.decode(probes.stdout)), "embedded probes are readable");
      const check = await new Deno.Command(output, {
        args: ["check"],
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      strictEqual(check.code, 0, dec.decode(check.stderr));
      // no PATH, so no clang: the ring-buffer probes are checked from their embedded objects
      match(dec.decode(check.stdout), /^ok {2}exec-trace \(ringbuf\) .* object \S+\/dist\/bpf\/exec-trace\.bpf\.o$/m);
      if (!skipEbpf) {
        // and run from them (libbpf opens embedded objects from memory)
        const run = await new Deno.Command(output, {
          args: ["run", "--probe", "exec-trace", "--duration", "1", "--log-format", "json"],
          clearEnv: true,
          stdout: "null",
          stderr: "piped",
        }).output();
        const stderr = dec.decode(run.stderr);
        strictEqual(run.code, 0, stderr);
        match(stderr, /"msg":"ring-buffer probe attached".*"object":"[^"]*\/dist\/bpf\/exec-trace\.bpf\.o"/);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
