/**
 * The permission set, proven by real attempts: a test-only module
 * (tests/support/permission_attempts.ts) runs under exactly the flags
 * lib/permissions.ts produces — the per-invocation set `deno task start`
 * derives, and the deploy set baked into the compiled binary — and tries to
 * read an unrelated file, write outside the allowed path, start another
 * program, load a library, reach the cloud metadata address and another local
 * port, and read other environment variables. Each must fail with NotCapable
 * and a message naming what was refused; what the agent legitimately does
 * (read its probes, write its output, reach its collector, start bpftrace)
 * must still work, so the denials are not vacuous.
 */
import assert, { deepStrictEqual, strictEqual } from "node:assert/strict";
import { DEPLOY_PATHS, deployPermissions, permissionFlags } from "../lib/permissions.ts";
import { compilePermissionFlags } from "../scripts/compile.ts";
import { ROOT, sandboxFlags } from "./support/ebpf.ts";

interface Outcome {
  name: string;
  ok: boolean;
  error?: string;
  message?: string;
}

type Attempt = [name: string, kind: string, arg: string];

const HAS_BPFTRACE = (() => {
  try {
    return Deno.statSync("/usr/bin/bpftrace").isFile;
  } catch {
    return false;
  }
})();

async function runAttempts(flags: string[], attempts: Attempt[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}tests/support/permission_attempts.ts`, JSON.stringify(attempts)],
    env: { HOME: "/root", AWS_SECRET_ACCESS_KEY: "not-a-secret", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert(out.success, `the attempts module itself failed under ${flags.join(" ")}:\n${stderr}`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l) as Outcome);
  deepStrictEqual(lines.map((l) => l.name), attempts.map((a) => a[0]));
  return new Map(lines.map((l) => [l.name, l]));
}

/**
 * Denied with NotCapable and a message naming the resource. `atConnect`: a
 * host name is checked once resolved, when connecting, and that denial
 * arrives wrapped in fetch's connection error (same message).
 */
function denied(o: Outcome | undefined, resource: RegExp, atConnect = false): void {
  assert(o, "attempt missing");
  assert(!o.ok, `${o.name}: expected a denial, but it was allowed`);
  if (!atConnect) strictEqual(o.error, "NotCapable", `${o.name}: ${o.error}: ${o.message}`);
  assert(resource.test(o.message ?? ""), `${o.name}: unclear message: ${o.message}`);
}

function allowed(o: Outcome | undefined): void {
  assert(o, "attempt missing");
  assert(o.ok, `${o.name}: expected to be allowed, got ${o.error}: ${o.message}`);
}

/** Two loopback HTTP servers: the collector the agent may reach and another service it may not. */
function servers() {
  const serve = () =>
    Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("{}", { status: 200 }));
  const collector = serve();
  const other = serve();
  return {
    collectorPort: collector.addr.port,
    otherPort: other.addr.port,
    async close() {
      await collector.shutdown();
      await other.shutdown();
    },
  };
}

/** What a compromised agent would try, whatever the set. */
function hostileAttempts(otherPort: number): Attempt[] {
  return [
    ["read /etc/shadow", "read", "/etc/shadow"],
    ["read the agent's own source", "read", `${ROOT}main.ts`],
    ["read /proc/self/environ", "read", "/proc/self/environ"],
    ["write /tmp", "write", `/tmp/spanprobe-denial-${crypto.randomUUID()}`],
    ["run /bin/sh", "run", "/bin/sh"],
    ["run curl", "run", "curl"],
    ["fetch cloud metadata", "fetch", "http://169.254.169.254/latest/meta-data/"],
    ["fetch another local port", "fetch", `http://127.0.0.1:${otherPort}/`],
    ["dlopen libc", "dlopen", "libc.so.6"],
    ["env HOME", "env", "HOME"],
    ["env AWS_SECRET_ACCESS_KEY", "env", "AWS_SECRET_ACCESS_KEY"],
    ["sys osRelease", "sys", "osRelease"],
    ["sys networkInterfaces", "sys", "networkInterfaces"],
  ];
}

/** What the agent does. */
function legitimateAttempts(o: { probesDir: string; outputFile: string; collectorPort: number }): Attempt[] {
  return [
    ["read a probe spec", "read", `${o.probesDir}/usdt-requests.yaml`],
    ["write the output file", "write", o.outputFile],
    ["fetch the collector", "fetch", `http://127.0.0.1:${o.collectorPort}/v1/traces`],
    ["env OTEL_SERVICE_NAME", "env", "OTEL_SERVICE_NAME"],
    ["sys hostname", "sys", "hostname"],
    ...(HAS_BPFTRACE ? [["run bpftrace", "run", "bpftrace"] as Attempt] : []),
  ];
}

function checkHostile(r: Map<string, Outcome>, otherPort: number, otherPortDenied: boolean, ffi = false): void {
  denied(r.get("read /etc/shadow"), /Requires read access to "\/etc\/shadow"/);
  denied(r.get("read the agent's own source"), /Requires read access to ".*main\.ts"/);
  // not granted; and Deno would refuse /proc to any scoped grant anyway ("Requires all access")
  denied(r.get("read /proc/self/environ"), /Requires (read|all) access to "\/proc\/self\/environ"/);
  denied(r.get("write /tmp"), /Requires write access to "\/tmp\/spanprobe-denial-/);
  denied(r.get("run /bin/sh"), /Requires run access to "\/bin\/sh"/);
  denied(r.get("run curl"), /Requires run access to "(curl|.*\/curl)"/);
  denied(r.get("fetch cloud metadata"), /Requires net access to "169\.254\.169\.254:80"/);
  if (otherPortDenied) {
    denied(r.get("fetch another local port"), new RegExp(`Requires net access to "127\\.0\\.0\\.1:${otherPort}"`));
  } else allowed(r.get("fetch another local port"));
  // the cost of the ring-buffer source: with FFI granted, native code is reachable (docs/permissions.md)
  if (ffi) allowed(r.get("dlopen libc"));
  else denied(r.get("dlopen libc"), /Requires ffi access/);
  denied(r.get("env HOME"), /Requires env access to "HOME"/);
  denied(r.get("env AWS_SECRET_ACCESS_KEY"), /Requires env access to "AWS_SECRET_ACCESS_KEY"/);
  denied(r.get("sys osRelease"), /Requires sys access to "osRelease"/);
  denied(r.get("sys networkInterfaces"), /Requires sys access to "networkInterfaces"/);
}

function checkLegitimate(r: Map<string, Outcome>): void {
  for (const name of ["read a probe spec", "write the output file", "fetch the collector", "env OTEL_SERVICE_NAME"]) {
    allowed(r.get(name));
  }
  allowed(r.get("sys hostname"));
  if (HAS_BPFTRACE) allowed(r.get("run bpftrace"));
}

Deno.test("per-invocation set (deno task start, the e2e tests): only the collector, the output file, bpftrace", async () => {
  const srv = servers();
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-perm-" });
  try {
    const outputFile = `${dir}/spans.json`;
    const flags = sandboxFlags([
      "run",
      "--probe",
      "usdt-requests",
      "--binary",
      `${dir}/app`,
      "--endpoint",
      `http://127.0.0.1:${srv.collectorPort}`,
      "--output",
      "otlp",
      "--output",
      `file:${outputFile}`,
    ]);
    assert(!flags.some((f) => f.startsWith("--allow-ffi")), "a bpftrace-only run has no FFI permission at all");
    assert(!flags.includes("--allow-all") && !flags.includes("-A"));
    const r = await runAttempts(flags, [
      ...hostileAttempts(srv.otherPort),
      ...legitimateAttempts({ probesDir: `${ROOT}probes`, outputFile, collectorPort: srv.collectorPort }),
    ]);
    checkHostile(r, srv.otherPort, true);
    checkLegitimate(r);
  } finally {
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy set (compiled binary): any host but the metadata addresses; narrowed build: the collector only", async () => {
  const srv = servers();
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-perm-" });
  try {
    const paths = { config: `${dir}/etc`, targets: `${dir}/targets`, state: `${dir}/state` };
    await Deno.mkdir(paths.state);
    const probesDir = `${ROOT}probes`;
    const cases = [
      { net: undefined, ffi: true },
      { net: [`127.0.0.1:${srv.collectorPort}`], ffi: true },
      { net: [`127.0.0.1:${srv.collectorPort}`], ffi: false },
    ];
    for (const { net, ffi } of cases) {
      const flags = permissionFlags(deployPermissions({ net, paths, extraRead: [probesDir], ffi }));
      // the same set as scripts/compile.ts bakes in, up to the folders and the probes stand-in
      const baked = compilePermissionFlags({ net, profile: ffi ? "full" : "bpftrace" });
      const unpath = (f: string) =>
        f.replaceAll(paths.config, DEPLOY_PATHS.config).replaceAll(paths.targets, DEPLOY_PATHS.targets)
          .replaceAll(paths.state, DEPLOY_PATHS.state).replace(`,${probesDir}`, "");
      deepStrictEqual(flags.map(unpath), baked);
      strictEqual(flags.includes("--allow-ffi"), ffi, "FFI only in the full profile");
      const r = await runAttempts(flags, [
        ...hostileAttempts(srv.otherPort),
        ...legitimateAttempts({ probesDir, outputFile: `${paths.state}/spans.json`, collectorPort: srv.collectorPort }),
      ]);
      // with the collector unknown at build time, other hosts are reachable: narrow the build to close that
      checkHostile(r, srv.otherPort, net !== undefined, ffi);
      checkLegitimate(r);
    }
  } finally {
    await srv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the metadata deny-list holds against host names that resolve to it", async () => {
  // localhost resolves to 127.0.0.1: a deny on the address must catch the name too (Deno checks at connect)
  const srv = servers();
  try {
    const flags = ["--no-prompt", "--allow-net", `--deny-net=127.0.0.1:${srv.otherPort}`];
    const r = await runAttempts(flags, [["by name", "fetch", `http://localhost:${srv.otherPort}/`]]);
    denied(r.get("by name"), new RegExp(`Requires net access to "127\\.0\\.0\\.1:${srv.otherPort}"`), true);
  } finally {
    await srv.close();
  }
});

Deno.test("an IPv6 collector gets a bracketed --allow-net entry that Deno accepts", async () => {
  const flags = sandboxFlags(["run", "--probe", "usdt-requests", "--endpoint", "http://[::1]:4318"]);
  assert(flags.includes("--allow-net=[::1]:4318"), flags.join(" "));
  const r = await runAttempts(flags, [["metadata over IPv6", "fetch", "http://[fd00:ec2::254]/"]]);
  denied(r.get("metadata over IPv6"), /Requires net access to "\[fd00:ec2::254\]:80"/);
});
