/**
 * Following a spawned agent's JSON log (`--log-format json`) until it exits.
 * @module
 */
import { TextLineStream } from "./text_lines.ts";

/** One JSON log line of the agent. */
export type LogLine = Record<string, unknown>;

/**
 * Reads `child`'s stderr as JSON log lines until it exits, calling `onLog`
 * with each line as it arrives (awaited before the next is read: e.g. to
 * release a target once `running` is logged). SIGKILLs the child after
 * `timeoutMs`. Returns its exit code, every log line and when it exited
 * (`performance.now()`, taken as its status resolved).
 */
export async function followJsonLogs(
  child: Deno.ChildProcess,
  onLog: (line: LogLine) => void | Promise<void>,
  timeoutMs = 60_000,
): Promise<{ code: number; logs: LogLine[]; exitedAt: number }> {
  const logs: LogLine[] = [];
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream());
  const reading = (async () => {
    for await (const line of lines) {
      logs.push(JSON.parse(line));
      await onLog(logs.at(-1)!);
    }
  })();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const status = await child.status;
  const exitedAt = performance.now();
  clearTimeout(timer);
  await reading;
  return { code: status.code, logs, exitedAt };
}
