/**
 * The permissions a program needs, derived from its configuration: network access to exactly the
 * configured brokers, database and metrics address, read access to exactly the configured
 * certificate and secret files, and its own environment variables (every other name reads as
 * unset under `--ignore-env`). The launcher (`scripts/launch.ts`), the shebangs, the compiled
 * binaries and the tests all take their flags from here, so they cannot disagree, and pointing a
 * program at another host is a configuration change, never an edit of deno.json.
 *
 * @module
 */

/** What a program may touch. */
export interface Permissions {
  /** `host:port` it may connect to or listen on. */
  net: string[];
  /** Files (or folders) it may read. */
  read: string[];
  /** Environment variables it may read. */
  env: string[];
}

/** The `host:port` of a postgres URL (default port 5432), IPv6 hosts in brackets. */
export function databaseHost(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port === "" ? "5432" : u.port}`;
}

/** The files a PostgreSQL URL's own TLS parameters name (`sslrootcert`, `sslcert`, `sslkey`). */
export function urlFiles(url: string): string[] {
  const u = new URL(url);
  return ["sslrootcert", "sslcert", "sslkey"].map((p) => u.searchParams.get(p)).filter((f): f is string => !!f);
}

/**
 * The permissions of a program that talks to `net` hosts, reads `files` (undefined entries are
 * settings left unset) and reads the environment variables `env`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivePermissions } from "./permissions.ts";
 * const p = derivePermissions({
 *   net: ["b-1.kafka.internal:9096", "b-1.kafka.internal:9096", "127.0.0.1:9464"],
 *   files: ["/etc/heartbeat/ca.pem", undefined],
 *   env: ["KAFKA_BROKERS", "LOG_LEVEL"],
 * });
 * assert.deepEqual(p.net, ["127.0.0.1:9464", "b-1.kafka.internal:9096"]);
 * assert.deepEqual(p.read, ["/etc/heartbeat/ca.pem"]);
 * ```
 */
export function derivePermissions(
  wants: { net: readonly string[]; files: readonly (string | undefined)[]; env: readonly string[] },
): Permissions {
  const unique = (xs: readonly (string | undefined)[]) =>
    [...new Set(xs.filter((x): x is string => x !== undefined && x !== ""))].sort();
  return { net: unique(wants.net), read: unique(wants.files), env: unique(wants.env) };
}

/**
 * The Deno flags of {@link Permissions}: `--allow-net=…` (or `--deny-net` when none), `--allow-read=…`
 * when any file, `--allow-env=…` and `--ignore-env` (npm packages probe other names: they read
 * as unset, with no prompt).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissionFlags } from "./permissions.ts";
 * assert.deepEqual(permissionFlags({ net: ["127.0.0.1:9092"], read: [], env: ["KAFKA_BROKERS"] }), [
 *   "--allow-net=127.0.0.1:9092",
 *   "--allow-env=KAFKA_BROKERS",
 *   "--ignore-env",
 * ]);
 * ```
 */
export function permissionFlags(p: Permissions, extraRead: readonly string[] = []): string[] {
  const read = [...new Set([...extraRead, ...p.read])];
  return [
    p.net.length > 0 ? `--allow-net=${p.net.join(",")}` : "--deny-net",
    ...(read.length > 0 ? [`--allow-read=${read.join(",")}`] : []),
    `--allow-env=${p.env.join(",")}`,
    "--ignore-env",
  ];
}
