/**
 * The deployment examples grant what was measured and nothing more: CAP_BPF +
 * CAP_PERFMON (all else dropped, never privileged, no_new_privs), a read-only
 * root, the folders of lib/permissions.ts's deploy set (config and targets
 * read-only, state writable), tracefs and BTF read-only, the OTLP endpoint
 * from the environment. Their spanprobe configs load and pass `check` under
 * the deploy permission set.
 */
import { buildEmbeddedObjects } from "../scripts/compile.ts";
import assert, { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { DEPLOY_PATHS, deployPermissions, permissionFlags } from "../lib/permissions.ts";
import { buildTarget, ROOT } from "./support/ebpf.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

function docs(path: string): Any[] {
  return parseAllDocuments(Deno.readTextFileSync(`${ROOT}${path}`)).map((d) => {
    assert(d.errors.length === 0, `${path}: ${d.errors.join("; ")}`);
    return d.toJS();
  });
}

function checkContainer(where: string, pod: Any, container: Any): void {
  const sc = container.securityContext;
  strictEqual(sc.privileged, false, `${where}: never privileged`);
  strictEqual(sc.allowPrivilegeEscalation, false, `${where}: no_new_privs`);
  strictEqual(sc.readOnlyRootFilesystem, true, `${where}: read-only root`);
  deepStrictEqual(sc.capabilities, { drop: ["ALL"], add: ["BPF", "PERFMON"] }, `${where}: the measured set`);
  strictEqual(sc.runAsUser, 0, `${where}: uid 0 (bpftrace 0.17 refuses others)`);
  strictEqual(sc.seccompProfile?.type, "RuntimeDefault");
  const mounts = new Map<string, Any>(container.volumeMounts.map((m: Any) => [m.mountPath, m]));
  strictEqual(mounts.get(DEPLOY_PATHS.config)?.readOnly, true, `${where}: config read-only`);
  const targets = [...mounts.keys()].filter((p) =>
    p === DEPLOY_PATHS.targets || p.startsWith(`${DEPLOY_PATHS.targets}/`)
  );
  assert(targets.length > 0 && targets.every((p) => mounts.get(p).readOnly === true), `${where}: targets read-only`);
  assert(mounts.has(DEPLOY_PATHS.state) && !mounts.get(DEPLOY_PATHS.state).readOnly, `${where}: state writable`);
  assert(mounts.has("/tmp"), `${where}: /tmp for the runtime with a read-only root`);
  for (const p of ["/sys/kernel/tracing", "/sys/kernel/btf"]) {
    strictEqual(mounts.get(p)?.readOnly, true, `${where}: ${p}`);
  }
  const writable = [...mounts.values()].filter((m) => !m.readOnly).map((m) => m.mountPath).sort();
  deepStrictEqual(writable, ["/tmp", DEPLOY_PATHS.state].sort(), `${where}: nothing else writable`);
  const env = new Map<string, Any>(container.env.map((e: Any) => [e.name, e]));
  assert(/^https?:\/\//.test(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")?.value ?? ""), `${where}: endpoint from env`);
  strictEqual(pod.automountServiceAccountToken, false, `${where}: no Kubernetes API token`);
}

function configMapConfig(all: Any[]): string {
  const cm = all.find((d) => d.kind === "ConfigMap");
  assert(cm?.data?.["config.yaml"], "a ConfigMap with config.yaml");
  return cm.data["config.yaml"];
}

Deno.test("Kubernetes DaemonSet: host PIDs, the two capabilities, the deploy folders", () => {
  const all = docs("deploy/kubernetes/daemonset.yaml");
  const ds = all.find((d) => d.kind === "DaemonSet");
  const pod = ds.spec.template.spec;
  strictEqual(pod.hostPID, true);
  const c = pod.containers.find((x: Any) => x.name === "spanprobe");
  checkContainer("daemonset", pod, c);
  const hostPaths = pod.volumes.filter((v: Any) => v.hostPath).map((v: Any) => v.hostPath.path);
  assert(hostPaths.includes("/sys/kernel/tracing") && hostPaths.includes("/sys/kernel/btf"));
});

Deno.test("Kubernetes sidecar: shared PID namespace, the app's binary in the shared targets volume", () => {
  const all = docs("deploy/kubernetes/sidecar.yaml");
  const pod = all.find((d) => d.kind === "Deployment").spec.template.spec;
  strictEqual(pod.shareProcessNamespace, true);
  checkContainer("sidecar", pod, pod.containers.find((x: Any) => x.name === "spanprobe"));
  const app = pod.containers.find((x: Any) => x.name === "app");
  const config = parseYaml(configMapConfig(all));
  const usdt = config.probes.find((p: { probe: string }) => p.probe === "usdt-requests");
  strictEqual(app.command[0], usdt.params.binary, "the agent traces the file the app runs");
});

Deno.test("docker compose: seed topology (app, sidecar in its PID namespace, collector, Jaeger), not privileged", () => {
  const compose = docs("deploy/compose/docker-compose.yaml")[0];
  deepStrictEqual(Object.keys(compose.services).sort(), ["app", "jaeger", "otel-collector", "spanprobe"]);
  const s = compose.services.spanprobe;
  strictEqual(s.pid, "service:app");
  strictEqual(s.privileged, undefined);
  deepStrictEqual(s.cap_drop, ["ALL"]);
  deepStrictEqual(s.cap_add, ["BPF", "PERFMON"]);
  assert(s.security_opt.includes("no-new-privileges:true"));
  strictEqual(s.read_only, true);
  const vols: string[] = s.volumes;
  for (const path of [DEPLOY_PATHS.config + "/config.yaml", DEPLOY_PATHS.targets, "/sys/kernel/tracing"]) {
    assert(vols.some((v) => v.split(":")[1] === path && v.endsWith(":ro")), `${path} mounted read-only`);
  }
  assert(vols.some((v) => v.split(":")[1] === DEPLOY_PATHS.state && !v.endsWith(":ro")));
  strictEqual(s.environment.OTEL_EXPORTER_OTLP_ENDPOINT, "http://otel-collector:4318");
  const app = compose.services.app;
  const config = parseYaml(Deno.readTextFileSync(`${ROOT}deploy/compose/spanprobe.yaml`));
  const usdt = config.probes.find((p: { probe: string }) => p.probe === "usdt-requests");
  strictEqual(app.command[0], usdt.params.binary, "the agent traces the file the app runs");
  const collector = parseYaml(Deno.readTextFileSync(`${ROOT}deploy/compose/otel-collector.yaml`));
  strictEqual(collector.receivers.otlp.protocols.http.endpoint, "0.0.0.0:4318");
  strictEqual(collector.exporters["otlp/jaeger"].endpoint, "jaeger:4317");
  assert(collector.service.pipelines.traces.exporters.includes("otlp/jaeger"));
});

Deno.test("the example configs load and pass check under the deploy permission set", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-manifests-" });
  try {
    const paths = { config: `${dir}/etc`, targets: `${dir}/targets`, state: `${dir}/state` };
    for (const p of Object.values(paths)) await Deno.mkdir(p);
    const target = await buildTarget("usdt_requests");
    const configs = [
      Deno.readTextFileSync(`${ROOT}deploy/compose/spanprobe.yaml`),
      configMapConfig(docs("deploy/kubernetes/sidecar.yaml")),
      configMapConfig(docs("deploy/kubernetes/daemonset.yaml")),
    ];
    await buildEmbeddedObjects(); // what the image's binary embeds
    const flags = permissionFlags(deployPermissions({ paths, extraRead: [`${ROOT}probes`, `${ROOT}dist/bpf`] }));
    for (const [i, text] of configs.entries()) {
      // the folders moved to the temp dir; every target path the config names gets a USDT binary there
      const moved = text.replaceAll(DEPLOY_PATHS.targets, paths.targets).replaceAll(DEPLOY_PATHS.state, paths.state);
      for (const m of moved.matchAll(/binary: (\S+)/g)) {
        await Deno.mkdir(m[1].slice(0, m[1].lastIndexOf("/")), { recursive: true });
        await Deno.copyFile(target, m[1]);
      }
      const file = `${paths.config}/config-${i}.yaml`;
      await Deno.writeTextFile(file, moved);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, `${ROOT}main.ts`, "check", "--config", file],
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      strictEqual(out.code, 0, `config ${i}: ${new TextDecoder().decode(out.stderr)}`);
      const stdout = new TextDecoder().decode(out.stdout);
      // the ring-buffer probe is checked against its prebuilt object: no clang needed (none on PATH here)
      if (text.includes("probe: exec-trace")) match(stdout, /ok {2}exec-trace \(ringbuf\) .* object \S+\/dist\/bpf\//);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
