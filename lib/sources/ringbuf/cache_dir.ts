/**
 * Where ring-buffer probe objects are built and cached: the user's cache
 * folder, never the repository. First of: `--cache-dir`, `ringbuf.cache_dir`
 * in the config, `SPANPROBE_CACHE_DIR`, `$XDG_CACHE_HOME/spanprobe`,
 * `$HOME/.cache/spanprobe`, and last the compiled binary's state folder
 * (`/var/lib/spanprobe/cache`). `deno task start` resolves the XDG default
 * itself and hands it over as `SPANPROBE_CACHE_DIR` with read+write on it
 * (the sandbox does not let the agent read `HOME`).
 * @module
 */
import { UserError } from "../../core/errors.ts";

/** The last resort: the state folder the compiled binary may write (lib/permissions.ts DEPLOY_PATHS.state). */
export const FALLBACK_CACHE_DIR = "/var/lib/spanprobe/cache";

/** Inputs of {@linkcode resolveCacheDir}. */
export interface CacheDirSources {
  /** `--cache-dir`. */
  flag?: string;
  /** `ringbuf.cache_dir` of the config file. */
  config?: string;
  /** The environment (unreadable variables read as unset). */
  env: (name: string) => string | undefined;
}

/** The cache folder (absolute); throws UserError (exit 2) on a relative one. */
export function resolveCacheDir(s: CacheDirSources): string {
  const xdg = s.env("XDG_CACHE_HOME");
  const home = s.env("HOME");
  const dir = s.flag ?? s.config ?? s.env("SPANPROBE_CACHE_DIR") ??
    (xdg?.startsWith("/") ? `${xdg}/spanprobe` : home?.startsWith("/") ? `${home}/.cache/spanprobe` : undefined) ??
    FALLBACK_CACHE_DIR;
  if (!dir.startsWith("/")) {
    throw new UserError(`cache folder ${JSON.stringify(dir)}: expected an absolute path`, 2);
  }
  return dir.replace(/\/+$/, "") || "/";
}

/** Where objects go inside the cache folder. */
export function bpfCacheDir(cacheDir: string): string {
  return `${cacheDir}/bpf`;
}
