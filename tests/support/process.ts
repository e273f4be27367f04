/**
 * Stopping a child process the tests or benchmarks started: SIGTERM, then SIGKILL if it is still
 * running after a grace period.
 *
 * @module
 */

/**
 * Sends `child` SIGTERM, and SIGKILL if `status` has not settled after `graceMs`; resolves with
 * `status` (a process already gone is fine).
 */
export async function terminate<T>(child: Deno.ChildProcess, status: Promise<T>, graceMs: number): Promise<T> {
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  kill("SIGTERM");
  const timer = setTimeout(() => kill("SIGKILL"), graceMs);
  try {
    return await status;
  } finally {
    clearTimeout(timer);
  }
}
