/**
 * `spanprobe check` checks what `run` rejects, without the target (issue 9
 * defect 3): a missing script, an undeclared `{{param}}`, bad given
 * parameter values and (with bpftrace installed) a script bpftrace cannot
 * parse, reported once with the `.bt` path and line; a valid spec passes
 * without `--binary`, saying what was not checked. The real CLI under the
 * launcher's permission set for `check`.
 */
import assert, { match, ok, strictEqual } from "node:assert/strict";
import { announceSkip, ebpfSkipReason, ROOT, runSpanprobe } from "./support/ebpf.ts";

const noBpftrace = announceSkip("cli_check_test.ts (bpftrace parse)", ebpfSkipReason());

async function withSpec(script: string | undefined, fn: (spec: string, bt: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "spanprobe-check-" });
  try {
    const yaml = (await Deno.readTextFile(`${ROOT}probes/usdt-requests.yaml`)).replace(
      "script: usdt-requests.bt",
      "script: probe.bt",
    );
    await Deno.writeTextFile(`${dir}/probe.yaml`, yaml);
    if (script !== undefined) await Deno.writeTextFile(`${dir}/probe.bt`, script);
    await fn(`${dir}/probe.yaml`, `${dir}/probe.bt`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const bundledScript = () => Deno.readTextFile(`${ROOT}probes/usdt-requests.bt`);

Deno.test("check: a valid spec passes without --binary and says the binary was not checked", async () => {
  const r = await runSpanprobe(["check", "--probe", "usdt-requests"]);
  strictEqual(r.code, 0, r.stderr);
  match(r.stdout, /ok {2}usdt-requests \(bpftrace\)/);
  match(r.stdout, /not checked here: parameter "binary"/);
});

Deno.test("check: a missing script fails (exit 2) naming spec and script", async () => {
  await withSpec(undefined, async (spec, bt) => {
    const r = await runSpanprobe(["check", "--probe", spec]);
    strictEqual(r.code, 2, r.stdout + r.stderr);
    match(r.stderr, new RegExp(`${spec}: cannot read script ${bt}`));
  });
});

Deno.test("check: a {{placeholder}} the spec does not declare fails (exit 2) naming the script", async () => {
  await withSpec(
    (await bundledScript()).replace("{{provider}}:request_end", "{{vendor}}:request_end"),
    async (spec, bt) => {
      const r = await runSpanprobe(["check", "--probe", spec]);
      strictEqual(r.code, 2, r.stdout + r.stderr);
      match(r.stderr, new RegExp(`${bt}:\\d+: \\{\\{vendor\\}\\} is not a parameter`));
    },
  );
});

Deno.test("check: given parameters are validated fully", async () => {
  const missing = await runSpanprobe(["check", "--probe", "usdt-requests", "--binary", "/no/such/app"]);
  strictEqual(missing.code, 2, missing.stdout);
  match(missing.stderr, /\/no\/such\/app/);
  const badType = await runSpanprobe(["check", "--probe", "usdt-requests", "--param", "provider=a b"]);
  strictEqual(badType.code, 2, badType.stdout);
  match(badType.stderr, /provider="a b" must be an identifier/);
});

Deno.test({
  name: "check: a syntax error is reported once with the .bt path and line (bpftrace -d), not stdin",
  ignore: noBpftrace,
  async fn() {
    const script = (await bundledScript()).split("\n");
    const at = script.findIndex((l) => l.includes('print(("request_end"'));
    script[at] = script[at].replace("(int64)arg3));", "(int64)arg3);"); // one ')' missing
    await withSpec(script.join("\n"), async (spec, bt) => {
      const r = await runSpanprobe(["check", "--probe", spec]);
      strictEqual(r.code, 2, r.stdout + r.stderr);
      match(r.stderr, new RegExp(`${bt}:${at + 1}:\\d+: syntax error`));
      ok(!r.stderr.includes("stdin"), r.stderr);
      strictEqual(r.stderr.split("syntax error").length - 1, 1, `printed once:\n${r.stderr}`);
    });
    const good = await runSpanprobe(["check", "--probe", "usdt-requests"]);
    assert(/bpftrace parse: ok/.test(good.stdout), good.stdout);
  },
});
