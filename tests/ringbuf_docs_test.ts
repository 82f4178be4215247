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

/**
 * Runs the blocks in order in one bash, in a private mount namespace whose
 * /tmp/myprobe is a fresh tmpfs: the walk-through's folder is this run's own,
 * whoever else runs it at the same time (only that folder: a checkout under
 * /tmp stays visible). Returns each block's stdout.
 */
async function runBlocks(blocks: string[]) {
  const marker = (i: number) => `@@spanprobe-docs-block-${i}@@`;
  const script = blocks.map((b, i) => `echo '${marker(i)}'\n${b}`).join("\n");
  const out = await new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      'mkdir -p /tmp/myprobe && mount -t tmpfs tmpfs /tmp/myprobe && exec bash -e -c "$0"',
      script,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const stdout = dec.decode(out.stdout);
  const parts = blocks.map((_, i) => {
    const start = stdout.indexOf(marker(i));
    if (start < 0) return undefined;
    const end = stdout.indexOf(marker(i + 1));
    return stdout.slice(start + marker(i).length, end < 0 ? undefined : end);
  });
  return { code: out.code, stderr: dec.decode(out.stderr), parts };
}

Deno.test({
  name: "docs/ringbuf.md: the command-line how-to runs as written",
  ignore: skip,
  async fn() {
    const blocks = howToBlocks(await Deno.readTextFile(`${ROOT}docs/ringbuf.md`));
    strictEqual(blocks.length, 7, "list/check/run, the demo, the five steps (two files, check, run, prebuilt)");
    const r = await runBlocks(blocks);
    const failed = r.parts.findLastIndex((p) => p !== undefined);
    strictEqual(r.code, 0, `block ${failed + 1} failed (exit ${r.code}):\n${blocks[failed]}\n${r.stderr}`);
    const [basics, demo, , , check, run, prebuilt] = r.parts.map((p) => ({ stdout: p ?? "" }));
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
  },
});
