/**
 * Running a command with reduced Linux capabilities through util-linux
 * `setpriv`, for the tests that measure what the agent needs.
 * @module
 */

/** Why capability tests cannot run (setpriv missing), or undefined. */
export function setprivMissing(): string | undefined {
  try {
    new Deno.Command("setpriv", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
    return undefined;
  } catch {
    return "setpriv is not installed (apt-get install util-linux)";
  }
}

/** setpriv arguments that leave exactly `caps` (e.g. ["bpf", "perfmon"]), with no_new_privs; the command follows. */
export function reducedCaps(caps: string[]): string[] {
  const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  return ["--nnp", `--bounding-set=${set}`, "--inh-caps=-all", "--ambient-caps=-all", "--"];
}
