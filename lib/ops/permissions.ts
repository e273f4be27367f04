/**
 * Permission checks made at start, so that a host outside the allowed list stops the program with
 * a clear message instead of failing later, deep inside a driver, or tempting anyone to widen
 * the permissions.
 *
 * @module
 */

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
      throw new Deno.errors.NotCapable(
        `${setting} names ${host}, which this program may not reach: its permissions allow only the hosts in its --allow-net list (see the README's permissions table)`,
      );
    }
  }
}

/** The `host:port` of a postgres URL (default port 5432). */
export function databaseHost(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port === "" ? "5432" : u.port}`;
}
