/**
 * The migration runner behind `deno task db:migrate`, the tests' databases and the benchmark's:
 * applies a folder of `NNN_name.sql` files in version order, each in its own transaction with its
 * `schema_migrations` row (or, with a `-- migrate: no-transaction` header, one statement at a
 * time), under an advisory lock so that two runs at once apply each migration once. A database
 * made by the schema.sql of before the migrations (its tables there, no `schema_migrations`) is
 * adopted: version 1 is recorded as applied without running it. Afterwards the roles file
 * (`sql/roles.sql`, idempotent) is applied on every run, so its grants cover what the migrations
 * made.
 *
 * Requires `--allow-read` of the migrations folder and the roles file, and
 * `--allow-net=<database host:port>`.
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
import type { Logger } from "../ops/log.ts";
import {
  type AppliedMigration,
  MigrationError,
  type MigrationFile,
  migrationFile,
  orderMigrations,
  pendingMigrations,
  SCHEMA_MIGRATIONS_DDL,
  splitStatements,
} from "./migration_files.ts";
import type { Connection } from "./schema.ts";

/** The project's migrations folder, `sql/migrations/`. */
export const SQL_MIGRATIONS: URL = new URL("../../sql/migrations/", import.meta.url);
/** The project's roles and grants, `sql/roles.sql`, applied after the migrations on every run. */
export const SQL_ROLES: URL = new URL("../../sql/roles.sql", import.meta.url);

/** The tables of the schema of before the migrations: a database holding all of them is adopted. */
export const BASELINE_TABLES: readonly string[] = ["readings", "dead_letters", "alerts", "readings_5s"];

/**
 * The advisory lock key every run takes (session level, for the database it connects to): the
 * bytes of "heartbea" as a bigint.
 */
export const MIGRATION_LOCK_KEY = "7522525924148393313";

/** What {@link migrateDatabase} needs beside the URL. */
export interface MigrateOptions {
  /** The migrations folder (default {@link SQL_MIGRATIONS}). */
  migrations?: URL | string;
  /** A file applied after the migrations on every run (e.g. {@link SQL_ROLES}), or none. */
  roles?: URL | string;
  /** Tables whose presence without `schema_migrations` means adopting version 1 (default {@link BASELINE_TABLES}). */
  baselineTables?: readonly string[];
  /** Where progress goes (adoption, each migration, the final version). */
  log?: Pick<Logger, "info">;
}

/** What a run did. */
export interface MigrationResult {
  /** The version the database is at now (0: no migration). */
  version: number;
  /** The files applied by this run, in order. */
  applied: string[];
  /** The file recorded as applied without running it (baseline adoption), or null. */
  adopted: string | null;
}

/**
 * Reads a migrations folder: every `*.sql` file in it (other files are ignored), named
 * `NNN_name.sql`, ordered and checked for gaps and duplicates.
 *
 * Requires `--allow-read` of the folder.
 *
 * @throws {MigrationError} on a badly named `.sql` file, a gap or a duplicate version
 */
export async function readMigrations(folder: URL | string): Promise<MigrationFile[]> {
  const base = typeof folder === "string"
    ? folder.replace(/\/?$/, "/")
    : new URL(folder.pathname.endsWith("/") ? folder.href : `${folder.href}/`);
  const files: MigrationFile[] = [];
  for await (const entry of Deno.readDir(folder)) {
    if (!entry.isFile || !entry.name.endsWith(".sql")) continue;
    const path = typeof base === "string" ? `${base}${entry.name}` : new URL(entry.name, base);
    files.push(await migrationFile(entry.name, await Deno.readFile(path)));
  }
  return orderMigrations(files);
}

/**
 * Brings a database to the newest migration of the folder, then applies the roles file. Checks
 * everything before applying anything: a bad folder (gap, duplicate, bad name) or an applied
 * migration that was changed, renamed or removed is refused with one line and nothing is applied.
 * Applying again is a no-op.
 *
 * Requires `--allow-read` of the folder and the roles file, `--allow-net` of the database.
 *
 * @throws {MigrationError} on a refusal, or a migration that failed (it names the file; its
 *   transaction was rolled back)
 */
export async function migrateDatabase(
  url: string,
  connection: Connection = {},
  options: MigrateOptions = {},
): Promise<MigrationResult> {
  const files = await readMigrations(options.migrations ?? SQL_MIGRATIONS);
  const roles = options.roles === undefined ? null : await Deno.readTextFile(options.roles);
  const client = new pg.Client({
    connectionString: url,
    application_name: "heartbeat-migrate",
    ...(connection.ssl ? { ssl: connection.ssl } : {}),
    ...(connection.password === undefined ? {} : { password: connection.password }),
  });
  await client.connect();
  try {
    await lock(client, options.log);
    try {
      return await migrateLocked(client, files, roles, options);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await client.end();
  }
}

async function lock(client: pg.Client, log: MigrateOptions["log"]): Promise<void> {
  const { rows } = await client.query<{ locked: boolean }>(
    "SELECT pg_try_advisory_lock($1::bigint) AS locked",
    [MIGRATION_LOCK_KEY],
  );
  if (rows[0]?.locked) return;
  log?.info("another db:migrate is running on this database; waiting for it to finish");
  await client.query("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
}

async function migrateLocked(
  client: pg.Client,
  files: MigrationFile[],
  roles: string | null,
  options: MigrateOptions,
): Promise<MigrationResult> {
  const log = options.log;
  const adopted = await adoptBaseline(client, files, options.baselineTables ?? BASELINE_TABLES);
  if (adopted !== null) {
    log?.info(
      `adopted the existing schema as ${adopted} without running it: its tables exist and schema_migrations did not`,
      { version: 1 },
    );
  }
  await client.query(SCHEMA_MIGRATIONS_DDL);
  const { rows } = await client.query<AppliedMigration>(
    "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
  );
  const pending = pendingMigrations(files, rows);
  const applied: string[] = [];
  for (const migration of pending) {
    const began = performance.now();
    await applyMigration(client, migration);
    applied.push(migration.file);
    log?.info(`applied migration ${migration.file}`, {
      version: migration.version,
      transaction: migration.transaction,
      ms: Math.round(performance.now() - began),
    });
  }
  if (roles !== null) await applyRoles(client, roles, log);
  const version = files.at(-1)?.version ?? 0;
  if (applied.length === 0) log?.info(`schema is up to date at version ${version}`);
  else log?.info(`applied ${applied.length} migration(s): schema is at version ${version}`);
  return { version, applied, adopted };
}

/** How often the roles file is tried when it races another session over the same roles. */
const ROLES_ATTEMPTS = 5;

/**
 * Applies the roles file in a transaction. Roles belong to the whole server, not to the database
 * the advisory lock is for, so a db:migrate of another database on the same server (or the tests'
 * throw-away databases, made side by side) may update the same role at once: PostgreSQL then fails
 * one with "tuple concurrently updated" (or a duplicate role). The file is idempotent, so that is
 * tried again, a few times, with a short pause.
 */
async function applyRoles(client: pg.Client, roles: string, log: MigrateOptions["log"]): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await inTransaction(client, () => client.query(roles));
      log?.info("applied the roles and grants");
      return;
    } catch (error) {
      if (attempt >= ROLES_ATTEMPTS || !racedOverRoles(error)) throw error;
      log?.info("the roles file raced another session over the same roles; trying again", { attempt });
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 50));
    }
  }
}

/** Whether an error is another session changing the same role (or catalog row) at the same time. */
export function racedOverRoles(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code === "XX000") return /tuple concurrently (updated|deleted)/.test(String(message));
  // unique_violation / duplicate_object: both created the role; serialization failure, deadlock
  return code === "23505" || code === "42710" || code === "40001" || code === "40P01";
}

/**
 * Records version 1 as applied without running it when the database has every baseline table and
 * no `schema_migrations`; refuses a database with only some of them. Returns the file adopted.
 */
async function adoptBaseline(
  client: pg.Client,
  files: MigrationFile[],
  tables: readonly string[],
): Promise<string | null> {
  const { rows } = await client.query<{ table: string; found: boolean }>(
    `SELECT t AS table, to_regclass(format('public.%I', t)) IS NOT NULL AS found
     FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i`,
    [["schema_migrations", ...tables]],
  );
  if (rows[0]?.found) return null;
  const present = rows.slice(1).filter((r) => r.found).map((r) => r.table);
  if (present.length === 0) return null;
  const baseline = files[0];
  const missing = rows.slice(1).filter((r) => !r.found).map((r) => r.table);
  if (missing.length > 0 || baseline === undefined) {
    throw new MigrationError(
      `Cannot adopt the database as a baseline: it has ${present.join(", ")} but not ${
        missing.join(", ") || "a migration to adopt"
      }, and no schema_migrations; apply sql/migrations/001_baseline.sql to it with psql (it is idempotent), then migrate again`,
      baseline?.file,
    );
  }
  await inTransaction(client, async () => {
    await client.query(SCHEMA_MIGRATIONS_DDL);
    await client.query(
      "INSERT INTO schema_migrations (version, name, checksum, adopted) VALUES ($1, $2, $3, true)",
      [baseline.version, baseline.file, baseline.checksum],
    );
  });
  return baseline.file;
}

async function applyMigration(client: pg.Client, migration: MigrationFile): Promise<void> {
  const record = () =>
    client.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
      migration.version,
      migration.file,
      migration.checksum,
    ]);
  if (migration.transaction) {
    try {
      await inTransaction(client, async () => {
        await client.query(migration.sql);
        await record();
      });
    } catch (error) {
      throw failed(migration, migration.sql, error, "its transaction was rolled back, nothing of it is applied");
    }
    return;
  }
  const statements = splitStatements(migration.sql);
  for (const [i, statement] of statements.entries()) {
    try {
      await client.query(statement);
    } catch (error) {
      const which = `statement ${i + 1} of ${statements.length} ("${statement.slice(0, 40).replace(/\s+/g, " ")}…")`;
      throw failed(
        migration,
        statement,
        error,
        `it runs without a transaction (-- migrate: no-transaction), so the ${i} statement(s) before ${which} stay applied; fix it and run again (its statements should be safe to repeat)`,
      );
    }
  }
  await record();
}

/** The error of a failed migration: the file, PostgreSQL's message, the line when it says, what is left. */
function failed(migration: MigrationFile, sql: string, error: unknown, what: string): MigrationError {
  const message = error instanceof Error ? error.message : String(error);
  const position = Number((error as { position?: string }).position);
  const line = Number.isInteger(position) && position > 0
    ? ` at line ${sql.slice(0, position - 1).split("\n").length}${sql === migration.sql ? "" : " of the statement"}`
    : "";
  return new MigrationError(`Cannot apply migration ${migration.file}: ${message}${line}; ${what}`, migration.file, {
    cause: error,
  });
}

async function inTransaction<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    const result = await fn();
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}
