/**
 * The image's runtime layer, without Docker: a root file system staged by
 * deploy/image/stage-runtime.sh (bpftrace, the Deno runtime, exactly the
 * shared libraries they load), the /bin/sh stub from deploy/image/nosh.c and
 * nothing else — no shell, no coreutils, no ld.so.cache. The agent runs in it
 * (chroot, private mount namespace) under the deploy permission set with the
 * real /etc/spanprobe, /targets and /var/lib/spanprobe layout, and every
 * request must arrive at a loopback OTLP receiver.
 *
 * The Deno CLI binary stands in for the compiled one (same runtime and
 * libraries; denort cannot be downloaded here), so the app's sources and
 * npm cache are copied in too, with the prebuilt CO-RE objects `deno task
 * compile` embeds (dist/bpf/): the ring-buffer probe exec-trace runs there too,
 * with no clang, bpftool or kernel headers — libbpf (from bpftrace's closure)
 * and the kernel's BTF are all it needs. Also shown: why the stub exists
 * (without any /bin/sh, bpftrace 0.17 crashes on scripts that need its C
 * parser).
 */
import assert, { strictEqual } from "node:assert/strict";
import { deployPermissions, permissionFlags } from "../lib/permissions.ts";
import { buildEmbeddedObjects } from "../scripts/compile.ts";
import { startOtlpReceiver } from "./support/otlp_receiver.ts";
import { announceSkip, buildTarget, ebpfSkipReason, hexOf, readTruth, ROOT } from "./support/ebpf.ts";

const dec = new TextDecoder();

/** Host tools by absolute path (the chrooted side gets PATH=/usr/bin only). */
const TOOLS: Record<string, string> = {};

function missingTool(): string | undefined {
  for (const tool of ["unshare", "chroot", "mount", "ldd", "cc"]) {
    const out = new Deno.Command("sh", {
      args: ["-c", `PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v ${tool}`],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const path = dec.decode(out.stdout).trim();
    if (!out.success || !path.startsWith("/")) return `${tool} is not installed`;
    TOOLS[tool] = path;
  }
  return undefined;
}

const skip = announceSkip("compile_rootfs_test.ts", ebpfSkipReason() ?? missingTool());

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(cmd, { args, env, clearEnv: env !== undefined, stdout: "piped", stderr: "piped" })
    .output();
  return { code: out.code, signal: out.signal, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function denoDir(): string {
  const out = new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped", stderr: "null" })
    .outputSync();
  return JSON.parse(dec.decode(out.stdout)).denoDir;
}

/**
 * The target inside the root, in a folder of this run's own: exec-trace sees
 * every exec on the machine, and another checkout may run this test at the
 * same time (its exec of /targets/usdt_requests must not count here).
 */
const TARGET_DIR = `/targets/run-${crypto.randomUUID().slice(0, 8)}`;
const TARGET = `${TARGET_DIR}/usdt_requests`;

/** Stages the image-like root; returns its path and the staged file list. */
async function stageRoot(withStub: boolean): Promise<{ root: string; staged: string[] }> {
  const root = await Deno.makeTempDir({ prefix: "spanprobe-rootfs-" });
  const denoBin = Deno.realPathSync(Deno.execPath());
  const stage = await run("/bin/sh", [`${ROOT}deploy/image/stage-runtime.sh`, root, "/usr/bin/bpftrace", denoBin]);
  strictEqual(stage.code, 0, stage.stderr);
  if (withStub) {
    await Deno.mkdir(`${root}/bin`);
    const cc = await run(TOOLS.cc, ["-static", "-Os", "-s", "-o", `${root}/bin/sh`, `${ROOT}deploy/image/nosh.c`]);
    strictEqual(cc.code, 0, cc.stderr);
  }
  await buildEmbeddedObjects(); // what deno task compile embeds
  for (
    const d of ["proc", "sys", "dev", "tmp", "app/dist", "deno-dir", "etc/spanprobe", "targets", "var/lib/spanprobe"]
  ) {
    await Deno.mkdir(`${root}/${d}`, { recursive: true });
  }
  await Deno.chmod(`${root}/tmp`, 0o1777);
  const cp = await run("/bin/cp", [
    "-r",
    `${ROOT}main.ts`,
    `${ROOT}deno.json`,
    `${ROOT}deno.lock`,
    `${ROOT}lib`,
    `${ROOT}probes`,
    `${root}/app/`,
  ]);
  strictEqual(cp.code, 0, cp.stderr);
  strictEqual((await run("/bin/cp", ["-r", `${ROOT}dist/bpf`, `${root}/app/dist/`])).code, 0);
  strictEqual((await run("/bin/cp", ["-r", `${denoDir()}/npm`, `${root}/deno-dir/`])).code, 0);
  await Deno.mkdir(`${root}${TARGET_DIR}`, { recursive: true });
  await Deno.copyFile(await buildTarget("usdt_requests"), `${root}${TARGET}`);
  await Deno.chmod(`${root}${TARGET}`, 0o755);
  return { root, staged: stage.stdout.trim().split("\n") };
}

/** Runs `argv` chrooted into `root` in a private mount namespace with /proc, /sys, /dev bound in. */
function inRoot(root: string, argv: string[], env: Record<string, string>) {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const script = [
    ...["proc", "sys", "dev"].map((d) => `${TOOLS.mount} --rbind /${d} ${q(`${root}/${d}`)}`),
    `exec ${TOOLS.chroot} ${q(root)} ${argv.map(q).join(" ")}`,
  ].join(" && ");
  // the host's sh runs the mounts; inside the root there is no shell
  return run(TOOLS.unshare, ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script], env);
}

async function removeRoot(root: string): Promise<void> {
  // the bind mounts lived in the child's mount namespace only; make sure before deleting
  const mounts = await Deno.readTextFile("/proc/self/mountinfo");
  assert(!mounts.includes(root), `${root} still has mounts; not deleting`);
  await Deno.remove(root, { recursive: true });
}

Deno.test({
  name: "image runtime layer: the agent runs with only bpftrace, Deno and their libraries, under the deploy set",
  ignore: skip,
  async fn() {
    const { root, staged } = await stageRoot(true);
    const receiver = await startOtlpReceiver();
    try {
      // exactly the ldd closure: LLVM/clang for bpftrace, libbpf, glibc; no shell, no tools
      assert(staged.includes("/usr/bin/bpftrace"));
      assert(staged.some((f) => f.endsWith("/libbpf.so.1")), "libbpf comes with bpftrace");
      for (const tool of ["bash", "dash", "ls", "cat", "env"]) {
        for (const dir of ["/bin", "/usr/bin"]) {
          assert(!staged.includes(`${dir}/${tool}`), `${dir}/${tool} must not be in the image`);
        }
      }
      const noShell = await inRoot(root, ["/bin/sh", "-c", "echo hi"], { PATH: "/usr/bin" });
      strictEqual(noShell.code, 127, `/bin/sh is the stub: runs nothing (${noShell.stderr})`);
      strictEqual(noShell.stdout + noShell.stderr, "", "silently");

      const requests = 60;
      await Deno.writeTextFile(
        `${root}/etc/spanprobe/config.yaml`,
        [
          "probes:",
          "  - probe: exec-trace # ring buffer, first: attached before bpftrace starts the command",
          "  - probe: usdt-requests",
          "    params:",
          `      binary: ${TARGET}`,
          "outputs: [otlp]",
          "",
        ].join("\n"),
      );
      const flags = permissionFlags(deployPermissions({ extraRead: ["/app/probes", "/app/dist/bpf"] }));
      const denoBin = Deno.realPathSync(Deno.execPath());
      const r = await inRoot(root, [
        denoBin,
        "run",
        "--cached-only",
        ...flags,
        "/app/main.ts",
        "run",
        "--config",
        "/etc/spanprobe/config.yaml",
        "--command",
        `${TARGET} --requests ${requests} --threads 2 --rate 400 --truth /var/lib/spanprobe/truth.txt`,
        "--log-format",
        "json",
      ], {
        PATH: "/usr/bin",
        DENO_DIR: "/deno-dir",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.baseUrl,
      });
      strictEqual(r.code, 0, `agent in the image-like root exited ${r.code}:\n${r.stderr}`);
      const truth = await readTruth(`${root}/var/lib/spanprobe/truth.txt`);
      strictEqual(truth.length, requests);
      const requestSpans = receiver.spans.filter((s) => s.attributes["request.id"] !== undefined);
      strictEqual(requestSpans.length, requests);
      // exec-trace, from its prebuilt object: the exec of the command bpftrace started, to its exit
      const execs = receiver.spans.filter((s) =>
        s.resource["service.name"] === "exec-trace" &&
        s.attributes["process.executable.path"] === TARGET
      );
      strictEqual(execs.length, 1, `one exec span of the command:\n${r.stderr}`);
      strictEqual(Number(execs[0].attributes["process.exit.code"]), 0);
      assert(execs[0].endNs > execs[0].startNs);
      const byId = new Map(requestSpans.map((s) => [hexOf(s.attributes["request.id"]), s]));
      for (const t of truth) {
        const s = byId.get(t.idHex);
        assert(s, `span for ${t.idHex}`);
        strictEqual(s.startNs, t.startNs);
        strictEqual(s.endNs, t.startNs + t.durationNs);
      }
    } finally {
      await receiver.close();
      await removeRoot(root);
    }
  },
});

Deno.test({
  name: "why /bin/sh is a stub: with no /bin/sh at all, bpftrace 0.17 crashes on a script with a cast",
  ignore: skip,
  async fn() {
    const { root } = await stageRoot(false);
    try {
      const bt = (script: string) =>
        inRoot(root, ["/usr/bin/bpftrace", "-f", "json", "-e", script], { PATH: "/usr/bin" });
      const plain = await bt('BEGIN { print(("a", 1)); exit(); }');
      strictEqual(plain.code, 0, plain.stderr);
      // a cast makes bpftrace run its clang parser, which popen()s `clang-14 -Wp,-v ...` through /bin/sh
      const cast = await bt('BEGIN { print(("a", (int64)1)); exit(); }');
      assert(cast.code !== 0, "crashes without /bin/sh");
      assert(cast.signal === "SIGSEGV" || cast.code === 139, `expected SIGSEGV, got ${cast.code}/${cast.signal}`);
      await Deno.mkdir(`${root}/bin`);
      const cc = await run(TOOLS.cc, ["-static", "-Os", "-s", "-o", `${root}/bin/sh`, `${ROOT}deploy/image/nosh.c`]);
      strictEqual(cc.code, 0, cc.stderr);
      const fixed = await bt('BEGIN { print(("a", (int64)1)); exit(); }');
      strictEqual(fixed.code, 0, fixed.stderr);
      assert(fixed.stdout.includes('["a",1]'), fixed.stdout);
    } finally {
      await removeRoot(root);
    }
  },
});
