/**
 * docs/ringbuf.md's command-line how-to, run verbatim: every ```sh block of
 * its "Command line" section, in order, from the repository root, each
 * checked for what the text says it does.
 */
import assert, { match, strictEqual } from "node:assert/strict";
import { announceSkip, ebpfSkipReason, ROOT } from "./support/ebpf.ts";

const skip = announceSkip("ringbuf_docs_test.ts", ebpfSkipReason());

/** The ```sh blocks between "## Command line" and the next "### Build cache" heading. */
function howToBlocks(markdown: string): string[] {
  const start = markdown.indexOf("## Command line");
  const end = markdown.indexOf("### Build cache", start);
  assert(start >= 0 && end > start, "docs/ringbuf.md has its command-line section");
  return [...markdown.slice(start, end).matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

async function bash(script: string) {
  const out = await new Deno.Command("bash", {
    args: ["-e", "-c", script],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test({
  name: "docs/ringbuf.md: the command-line how-to runs as written",
  ignore: skip,
  async fn() {
    const blocks = howToBlocks(await Deno.readTextFile(`${ROOT}docs/ringbuf.md`));
    strictEqual(blocks.length, 7, "list/check/run, the demo, the five steps (two files, check, run, prebuilt)");
    await Deno.remove("/tmp/myprobe", { recursive: true }).catch(() => {});
    try {
      const results = [];
      for (const block of blocks) {
        const r = await bash(block);
        strictEqual(r.code, 0, `${block}\n→ exit ${r.code}\n${r.stderr}`);
        results.push(r);
      }
      const [basics, demo, , , check, run, prebuilt] = results;
      match(basics.stdout, /^exec-trace\s+ringbuf/m);
      match(basics.stdout, /^ok {2}exec-trace \(ringbuf\) .* object /m);
      match(basics.stdout, /^ok {2}joined-trace \(ringbuf\) .* object /m);
      match(demo.stdout, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01 request-2$/m, "the demo ran");
      for (const name of ["request-0", "request-1", "request-2", "openat", "clock_nanosleep", "off_cpu"]) {
        match(demo.stdout, new RegExp(`^span ${name} `, "m"));
      }
      match(
        check.stdout,
        /^ok {2}opens \(ringbuf\) \/tmp\/myprobe\/opens\.yaml object \S+\/opens-[0-9a-f]{16}\.bpf\.o$/m,
      );
      match(run.stdout, /^span openat \S+ status=UNSET .* error\.errno=OK file\.path=\/etc\/hostname$/m);
      match(run.stdout, /^span openat \S+ status=ERROR .* error\.errno=ENOENT file\.path=\/nonexistent$/m);
      match(
        prebuilt.stdout,
        /^ok {2}opens \(ringbuf\) \/tmp\/myprobe\/opens\.yaml object \/tmp\/myprobe\/opens\.bpf\.o$/m,
      );
    } finally {
      await Deno.remove("/tmp/myprobe", { recursive: true }).catch(() => {});
    }
  },
});
