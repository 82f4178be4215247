/**
 * `spanprobe run --gotrace-dir DIR`: a source that watches DIR for `.trace`
 * files (runtime/trace output, trace.FlightRecorder snapshots) and exports
 * each one's spans once.
 *
 * Readiness (no fixed delay): every file-system event for a file re-arms a
 * quiet period (`settleMs`); when it ends, the file's size and mtime are
 * compared with those seen at the last event — unchanged means the writer
 * has stopped. A file whose tail is still cut short (a batch not fully
 * written, or a Go 1.26 generation without its end marker) is given more
 * time, up to `maxWaitMs` after its last change; then it is converted as it
 * is (partial traces are valid input). Writers that rename a finished file
 * into DIR are picked up at once.
 *
 * Exactly once: a converted file is recorded (name, size, mtime) in the
 * state file after its spans were handed to export; on restart, recorded
 * files are skipped and new or changed ones are converted. A file that
 * cannot be parsed is logged and counted (`gotrace_files_failed`), recorded
 * too (it is retried only when it changes), and the source goes on.
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import type { SpanData } from "../../core/span_data.ts";
import type { Counters } from "../../telemetry/counters.ts";
import type { Logger } from "../../telemetry/log.ts";
import type { ProbeRun } from "../../core/probe_run.ts";
import { type FileMark, openProcessedFiles } from "./processed_files.ts";
import { convertTraceBytes, reportConverted, type TraceFileOptions, traceTail } from "./trace_file.ts";

/** Options of {@linkcode openGoTraceDir}. */
export interface GoTraceDirOptions extends TraceFileOptions {
  /** The watched directory. */
  dir: string;
  /** The state file remembering converted files. */
  statePath: string;
  /** Quiet period after the last change before a file counts as written (default 500 ms). */
  settleMs?: number;
  /** How long a file whose tail stays cut short is waited for (default 60 s after its last change). */
  maxWaitMs?: number;
  logger: Logger;
  counters: Counters;
}

interface Candidate {
  mark?: FileMark;
  changedAt: number;
  timer?: ReturnType<typeof setTimeout>;
}

const SUFFIX = ".trace";

/** Starts watching; resolves once existing files are queued and the watch is on. */
export async function openGoTraceDir(o: GoTraceDirOptions): Promise<ProbeRun> {
  const dir = resolve(o.dir);
  const settleMs = o.settleMs ?? 500;
  const maxWaitMs = o.maxWaitMs ?? 60_000;
  const { logger, counters } = o;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    throw new Error(`--gotrace-dir ${o.dir}: ${(e as Error).message}`);
  }
  if (!info.isDirectory) throw new Error(`--gotrace-dir ${o.dir}: not a directory`);
  const state = await openProcessedFiles(o.statePath);
  const watcher = Deno.watchFs(dir, { recursive: false });
  const candidates = new Map<string, Candidate>();
  const ready: string[] = [];
  let stopped = false;
  let wake: (() => void) | undefined;
  let controller!: ReadableStreamDefaultController<SpanData[]>;
  const spans = new ReadableStream<SpanData[]>({
    start(c) {
      controller = c;
    },
  });

  const markOf = (i: Deno.FileInfo): FileMark => ({ size: i.size, mtimeMs: i.mtime?.getTime() ?? 0 });
  const same = (a?: FileMark, b?: FileMark) => !!a && !!b && a.size === b.size && a.mtimeMs === b.mtimeMs;

  async function statMark(name: string): Promise<FileMark | undefined> {
    try {
      const i = await Deno.stat(join(dir, name));
      return i.isFile ? markOf(i) : undefined;
    } catch {
      return undefined; // gone
    }
  }

  function arm(name: string, c: Candidate): void {
    clearTimeout(c.timer);
    if (stopped) return;
    c.timer = setTimeout(() => void settle(name), settleMs);
  }

  /** A file-system event for `name`: note its size and mtime now, check again after the quiet period. */
  async function touch(name: string): Promise<void> {
    if (!name.endsWith(SUFFIX) || stopped) return;
    const mark = await statMark(name);
    if (!mark) {
      const c = candidates.get(name);
      if (c) clearTimeout(c.timer);
      candidates.delete(name);
      return;
    }
    if (state.has(name, mark)) return;
    let c = candidates.get(name);
    if (!c) candidates.set(name, c = { changedAt: Date.now() });
    if (!same(c.mark, mark)) {
      c.mark = mark;
      c.changedAt = Date.now();
    }
    arm(name, c);
  }

  /** The quiet period ended: unchanged means written. */
  async function settle(name: string): Promise<void> {
    const c = candidates.get(name);
    if (!c || stopped) return;
    const mark = await statMark(name);
    if (!mark) {
      candidates.delete(name);
      return;
    }
    if (!same(c.mark, mark)) {
      c.mark = mark;
      c.changedAt = Date.now();
      arm(name, c);
      return;
    }
    if (!ready.includes(name)) ready.push(name);
    wake?.();
  }

  async function convert(name: string): Promise<void> {
    const c = candidates.get(name);
    if (!c) return;
    const path = join(dir, name);
    let bytes: Uint8Array;
    let fileInfo: Deno.FileInfo;
    try {
      [bytes, fileInfo] = await Promise.all([Deno.readFile(path), Deno.stat(path)]);
    } catch (e) {
      candidates.delete(name);
      if (e instanceof Deno.errors.NotFound) return; // removed meanwhile
      // not recorded: retried when it changes or after a restart
      counters.inc("gotrace_files_failed");
      logger.error("gotrace: file cannot be read", { file: path, error: (e as Error).message });
      return;
    }
    const mark = markOf(fileInfo);
    if (!same(mark, c.mark) || bytes.length !== mark.size) {
      c.mark = mark;
      c.changedAt = Date.now();
      arm(name, c); // changed while being read
      return;
    }
    if (state.has(name, mark)) {
      candidates.delete(name);
      return;
    }
    let cut: string | undefined;
    try {
      cut = traceTail(bytes)?.reason;
    } catch {
      cut = undefined; // malformed: the conversion below reports it
    }
    if (cut && Date.now() - c.changedAt < maxWaitMs) {
      logger.debug("gotrace: file still being written", { file: path, bytes: mark.size, tail: cut });
      arm(name, c);
      return;
    }
    candidates.delete(name);
    let handed = 0;
    try {
      const summary = await convertTraceBytes(path, bytes, fileInfo, o, (s) => {
        handed += s.length;
        controller.enqueue(s);
      });
      reportConverted(path, summary, counters, logger, "gotrace: ");
    } catch (e) {
      counters.inc("gotrace_files_failed");
      logger.error("gotrace: file cannot be parsed; skipped until it changes", {
        file: path,
        error: (e as Error).message,
        spansExported: handed,
      });
    }
    await state.add(name, mark);
  }

  const worker = (async () => {
    while (!stopped) {
      const name = ready.shift();
      if (name === undefined) {
        await new Promise<void>((r) => wake = r);
        wake = undefined;
        continue;
      }
      try {
        await convert(name);
      } catch (e) {
        logger.error("gotrace: cannot record a converted file", { file: join(dir, name), error: (e as Error).message });
      }
    }
  })();

  const watching = (async () => {
    try {
      for await (const ev of watcher) {
        for (const p of ev.paths) if (dirname(p) === dir) void touch(basename(p));
      }
    } catch (e) {
      if (!stopped) throw e;
    }
  })();

  const present = new Set<string>();
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(SUFFIX)) present.add(entry.name);
  }
  await state.retain(present);
  for (const name of present) await touch(name);
  logger.info("gotrace: watching", { dir, files: present.size, state: o.statePath });

  let stopping: Promise<void> | undefined;
  let resolveDone!: () => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  watching.catch((e) => {
    logger.error("gotrace: watching stopped", { dir, error: (e as Error).message });
    rejectDone(e);
  });
  const stop = () =>
    stopping ??= (async () => {
      stopped = true;
      for (const c of candidates.values()) clearTimeout(c.timer);
      try {
        watcher.close();
      } catch { /* closed */ }
      wake?.();
      await worker;
      try {
        controller.close();
      } catch { /* closed */ }
      resolveDone();
    })();
  return { name: `gotrace:${dir}`, spans, stop, done };
}
