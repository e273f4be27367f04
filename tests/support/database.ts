/**
 * Throw-away databases for the integration tests and the benchmark: a fresh database brought to
 * the newest migration by the runner `deno task db:migrate` uses (lib/storage/migrations.ts), with
 * the roles, a pool of its own for the checks a test makes, and a drop on dispose.
 *
 * Requires `--allow-net=127.0.0.1:5432` and `--allow-read` of sql/.
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
import { Repository } from "../../lib/storage/repository.ts";
import { ensureDatabase, quoteIdent } from "../../lib/storage/schema.ts";
import { migrateDatabase, SQL_MIGRATIONS, SQL_ROLES } from "../../lib/storage/migrations.ts";

/** PostgreSQL server URL (without database) the tests use. */
export const PG_SERVER = "postgres://postgres@127.0.0.1:5432";

/** Drops a database if it exists terminating its connections first. */
export async function dropDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A fresh database holding the schema and roles; dropped on dispose. */
export interface TestDatabase extends AsyncDisposable {
  /** Its URL, as a superuser. */
  url: string;
  /** Its URL as the consumer's least-privilege role, heartbeat_writer. */
  writerUrl: string;
  /** A repository on it, as the consumer has. */
  repository: Repository;
  /** A pool of the test's own, as a superuser, for raw queries. */
  pool: pg.Pool;
  /** Runs a query on {@link TestDatabase.pool} and returns its rows. */
  query<R extends object>(text: string, values?: unknown[]): Promise<R[]>;
  /** Counts stored readings and dead letters. */
  counts(): Promise<{ readings: number; deadLetters: number }>;
}

/** A unique name for a throw-away database: `heartbeat_test_<time>_<random>`. */
export function uniqueDatabaseUrl(prefix = "heartbeat_test"): string {
  return `${PG_SERVER}/${prefix}_${Date.now().toString(36)}_${crypto.randomUUID().slice(0, 8)}`;
}

/** Creates a fresh database with the migrations of `sql/migrations/` and `sql/roles.sql` applied. */
export async function testDatabase(): Promise<TestDatabase> {
  const url = uniqueDatabaseUrl();
  await ensureDatabase(url);
  await migrateDatabase(url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES });
  const repository = Repository.connect(url, { poolSize: 4 });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // pool.end() resolves before its connections have closed, so the DROP DATABASE … WITH (FORCE) of
  // dispose may terminate one: an idle client's error is emitted on the pool, uncaught without this
  pool.on("error", () => {});
  const query = async <R extends object>(text: string, values: unknown[] = []) =>
    (await pool.query(text, values)).rows as R[];
  const writer = new URL(url);
  writer.username = "heartbeat_writer";
  writer.password = "heartbeat_writer";
  return {
    url,
    writerUrl: writer.toString(),
    repository,
    pool,
    query,
    async counts() {
      const [row] = await query<{ readings: string; dead_letters: string }>(
        "SELECT (SELECT count(*) FROM readings) AS readings, (SELECT count(*) FROM dead_letters) AS dead_letters",
      );
      return { readings: Number(row?.readings ?? 0), deadLetters: Number(row?.dead_letters ?? 0) };
    },
    async [Symbol.asyncDispose]() {
      await pool.end();
      await repository.close();
      await dropDatabase(url);
    },
  };
}
