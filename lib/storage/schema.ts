/**
 * Getting a database ready and talking about it safely: creating it, waiting until it answers
 * with the schema in place, and redacting its URL for logs.
 *
 * Requires `--allow-net=<database host:port>`.
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
import { TransientError } from "./errors.ts";
import type { Repository } from "./repository.ts";

/** How to connect beside the URL: TLS options and a password (what the config resolved). */
export interface Connection {
  /** node-postgres' `ssl`, or false for none. */
  ssl?: false | Record<string, unknown>;
  /** The password, when the URL has none. */
  password?: string;
}

/** Node's codes for a TLS certificate the client refused: retrying cannot help. */
const TLS_REFUSALS = /^(ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_|CERT_|ERR_SSL_)/;

/**
 * Redacts the password of a PostgreSQL URL so it can be logged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactUrl } from "./schema.ts";
 * assert.equal(redactUrl("postgres://writer:secret@db:5432/heartbeat"), "postgres://writer:***@db:5432/heartbeat");
 * ```
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "<unparsable database URL>";
  }
}

/**
 * Creates a database if it does not exist, connecting to the server's `postgres` database, and
 * says whether it did. Two calls at once for the same name both succeed: the one whose CREATE
 * DATABASE lost the race returns false. Needs a role allowed to CREATE DATABASE; used by
 * `deno task db:migrate` and the tests.
 */
export async function ensureDatabase(url: string, connection: Connection = {}): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (name === "") throw new TypeError(`Cannot create a database: the URL ${redactUrl(url)} names none`);
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({
    connectionString: admin.toString(),
    ...(connection.ssl ? { ssl: connection.ssl } : {}),
    ...(connection.password === undefined ? {} : { password: connection.password }),
  });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if ((found.rowCount ?? 0) > 0) return false;
    try {
      await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    } catch (error) {
      // another session created it since the SELECT: 42P04 duplicate_database, or 23505 when both
      // inserted into pg_database at once
      const code = (error as { code?: unknown }).code;
      if (code === "42P04" || code === "23505") return false;
      throw error;
    }
    return true;
  } finally {
    await client.end();
  }
}

/** Quotes a PostgreSQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Waits until the database answers and holds the schema. Unreachable servers are retried with
 * backoff (logged); a missing database, table or a refused login fails at once with what to do.
 *
 * @throws {Error} when the database or the schema is missing, or the login is refused
 */
export async function waitForSchema(
  repository: Repository,
  log: { warn(msg: string, fields?: Record<string, unknown>): void },
  signal?: AbortSignal,
): Promise<void> {
  let delay = 250;
  for (;;) {
    try {
      await repository.checkSchema();
      return;
    } catch (error) {
      const code = (error instanceof TransientError ? error.code : undefined) ?? "";
      const message = error instanceof Error ? error.message : String(error);
      // a missing table or database, or a column of a later migration: the schema is older than this code
      if (code === "42P01" || code === "3D000" || code === "42703") {
        throw new Error(
          `the database has no heartbeat schema, or an older one (${message}); run: deno task db:migrate`,
          {
            cause: error,
          },
        );
      }
      if (/client password must be a string/.test(message)) {
        throw new Error(
          "the database asks for a password and none is set (the URL's, a *_PASSWORD or *_PASSWORD_FILE)",
          {
            cause: error,
          },
        );
      }
      if (code.startsWith("28") || code === "42501") {
        throw new Error(`the database refused the login or access (${message})`, { cause: error });
      }
      if (TLS_REFUSALS.test(code) || /does not support SSL|SSL is not enabled/.test(message)) {
        throw new Error(
          `TLS to the database failed (${message}): check --database-sslmode, --database-sslrootcert and the URL's host`,
          { cause: error },
        );
      }
      if (signal?.aborted) return;
      log.warn("database not reachable yet; retrying", { error, retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(5_000, delay * 2);
    }
  }
}
