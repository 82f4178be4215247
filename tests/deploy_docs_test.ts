/**
 * The Dockerfile's comment, docs/deploy.md and .github/workflows/ci.yml say
 * the same about the image: whether CI builds it follows from the workflow
 * itself, and what the workflow checks (a ring-buffer probe in the image and
 * the compose demo) is what the manifests run.
 */
import assert, { match } from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { ROOT } from "./support/ebpf.ts";

const read = (p: string) => Deno.readTextFileSync(`${ROOT}${p}`);

Deno.test("Dockerfile, docs/deploy.md and ci.yml agree on whether CI builds the image", () => {
  const ci = parseYaml(read(".github/workflows/ci.yml")) as { jobs: Record<string, { steps: { run?: string }[] }> };
  const builds = Object.values(ci.jobs).some((j) => j.steps.some((s) => /docker build\b/.test(s.run ?? "")));
  const dockerfile = read("Dockerfile");
  const deploy = read("docs/deploy.md");
  if (builds) {
    assert(!/not built by CI/i.test(dockerfile), "the Dockerfile must not say CI does not build it");
    match(dockerfile, /CI's `image` job \(\.github\/workflows\/ci\.yml\) builds this image/);
    match(deploy, /CI's `image` job \(`\.github\/workflows\/ci\.yml`\) builds the real image/);
  } else {
    match(dockerfile, /not built by CI/i);
  }
});

Deno.test("what CI checks in the image is what the manifests run: exec-trace (ring buffer) and usdt-requests", () => {
  const ci = read(".github/workflows/ci.yml");
  match(ci, /docker run --rm spanprobe check/);
  match(ci, /grep -q usdt_requests && echo "\$services" \| grep -q exec-trace/);
  const compose = parseYaml(read("deploy/compose/spanprobe.yaml")) as { probes: { probe: string }[] };
  assert(
    compose.probes.some((p) => p.probe === "exec-trace") && compose.probes.some((p) => p.probe === "usdt-requests"),
  );
  match(read("deploy/kubernetes/daemonset.yaml"), /- probe: exec-trace\n\s+- probe: usdt-requests/);
});
