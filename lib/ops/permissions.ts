/**
 * Permission checks made at start, so that a host outside the allowed list stops the program with
 * a clear message instead of failing later, deep inside a driver, or tempting anyone to widen
 * the permissions.
 *
 * @module
 */

/** Whether this is a binary made by `deno compile` (its main module lives in the binary). */
export function isCompiled(): boolean {
  return /\/deno-compile-[^/]+\//.test(Deno.mainModule);
}

/** What to do when the permissions do not cover a configured host or file. */
export function remedy(): string {
  return isCompiled()
    ? "this binary was built for other settings; rebuild it with the target's settings in the environment (e.g. KAFKA_BROKERS=… DATABASE_URL=… deno task compile)"
    : "start it with deno task (deno task consumer, producer or db:migrate), which allows exactly the configured hosts and files";
}

/**
 * Checks that network access to every `host:port` is granted (without prompting).
 *
 * @throws {Deno.errors.NotCapable} naming the first host that is not allowed
 * @example
 * ```ts ignore
 * await requireNet(["127.0.0.1:9092"], "--brokers");
 * ```
 */
export async function requireNet(hosts: readonly string[], setting: string): Promise<void> {
  for (const host of hosts) {
    const status = await Deno.permissions.query({ name: "net", host });
    if (status.state !== "granted") {
      throw new Deno.errors.NotCapable(`${setting} names ${host}, which this process may not reach: ${remedy()}`);
    }
  }
}
