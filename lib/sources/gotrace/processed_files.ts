/**
 * The files a watched directory has already had exported, remembered across
 * restarts in a small JSON state file: name, size and mtime. A file is
 * processed again only when one of those changes. Written atomically (a
 * temporary file renamed over the old one).
 * @module
 */

/** A file's identity for "processed once". */
export interface FileMark {
  size: number;
  mtimeMs: number;
}

/** The state file's contents. */
interface StateFile {
  version: 1;
  files: Record<string, FileMark>;
}

/** Processed files of one directory. */
export interface ProcessedFiles {
  /** Whether `name` was processed with this size and mtime. */
  has(name: string, mark: FileMark): boolean;
  /** Records `name` as processed and saves the state file. */
  add(name: string, mark: FileMark): Promise<void>;
  /** Forgets files no longer present (keeps the state file small). */
  retain(present: Set<string>): Promise<void>;
}

/**
 * Opens (or starts) the state file at `path`. Throws an Error naming the file
 * when it exists but is not a state file (delete it to process every file again).
 */
export async function openProcessedFiles(path: string): Promise<ProcessedFiles> {
  let state: StateFile = { version: 1, files: {} };
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const p = parsed as StateFile | undefined;
    if (!p || p.version !== 1 || typeof p.files !== "object" || p.files === null) {
      throw new Error(
        `${path}: not a spanprobe gotrace state file; delete it to export every trace in the directory again`,
      );
    }
    state = p;
  }
  const save = async () => {
    const tmp = `${path}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(state));
    await Deno.rename(tmp, path);
  };
  return {
    has(name, mark) {
      const m = state.files[name];
      return m !== undefined && m.size === mark.size && m.mtimeMs === mark.mtimeMs;
    },
    async add(name, mark) {
      state.files[name] = { size: mark.size, mtimeMs: mark.mtimeMs };
      await save();
    },
    async retain(present) {
      let changed = false;
      for (const name of Object.keys(state.files)) {
        if (!present.has(name)) {
          delete state.files[name];
          changed = true;
        }
      }
      if (changed) await save();
    },
  };
}
