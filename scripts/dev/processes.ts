/**
 * Processes by pid, for `dev:down` and the dev console: is it alive, is it what we think it is
 * (its command line, so that a reused pid is never signalled), and stop it with a grace period.
 *
 * Requires `--allow-run=bash`.
 *
 * @module
 */

/** The command line of a live process, or undefined when there is none with that pid. */
export async function commandLine(pid: number): Promise<string | undefined> {
  const out = await new Deno.Command("bash", {
    args: ["-c", `ps -o args= -p ${Math.trunc(pid)}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(out.stdout).trim();
  return out.success && line !== "" ? line : undefined;
}

/** Whether the process is alive and its command line contains `marker`. */
export async function isOurs(pid: number, marker: string): Promise<boolean> {
  return (await commandLine(pid))?.includes(marker) ?? false;
}

/** Sends a signal (through `kill`: `Deno.kill` would need every program allowed); false when there is no such process. */
export async function signal(pid: number, name: "SIGTERM" | "SIGKILL"): Promise<boolean> {
  const out = await new Deno.Command("bash", {
    args: ["-c", `kill -s ${name.slice(3)} ${Math.trunc(pid)}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** Waits until the process is gone (true) or `ms` have passed (false). */
export async function waitGone(pid: number, marker: string, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (!(await isOurs(pid, marker))) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return !(await isOurs(pid, marker));
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function terminate(pid: number, marker: string, graceMs: number): Promise<"stopped" | "killed" | "gone"> {
  if (!(await isOurs(pid, marker))) return "gone";
  await signal(pid, "SIGTERM");
  if (await waitGone(pid, marker, graceMs)) return "stopped";
  await signal(pid, "SIGKILL");
  await waitGone(pid, marker, 5_000);
  return "killed";
}
