/**
 * PostgreSQL side of the benchmark: a fresh database holding the migrations of `sql/migrations/` per measurement
 * (dropped afterwards), the COPY ceiling, the reference's one-INSERT-per-message baselines, row
 * counts, and the end-to-end latency percentiles computed in SQL.
 *
 * Requires `--allow-net=127.0.0.1:5432` (and the secured servers' 127.0.0.1:5433 for the TLS sink) and
 * `--allow-read` of `sql/migrations/`.
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
// @ts-types="@types/pg-copy-streams"
import { from as copyFrom } from "pg-copy-streams";
import { once } from "node:events";
import type { Buffer } from "node:buffer";
import { ensureDatabase, migrateDatabase, SQL_MIGRATIONS } from "../lib/storage/mod.ts";
import { dropDatabase } from "../tests/support/database.ts";
import { DEAD_LETTER_COLUMNS, type ReadingColumns, type SampleReading } from "./rows.ts";

/** A connected node-postgres client. */
export type DbClient = pg.Client;

/** TLS settings of the bench's own connections to a TLS-only server (the secured servers' CA), or none. */
export type DbTls = { ca: string } | undefined;

/** A throw-away database with the pipeline's schema; dropped on dispose. */
export interface BenchDatabase extends AsyncDisposable {
  /** Its `postgres://` URL. */
  url: string;
  /** Its name. */
  name: string;
}

/**
 * Creates a fresh database named `wanted` (cut to PostgreSQL's 63 bytes) on `server` and brings it
 * to the newest migration (tables, primary keys and indexes, exactly as the pipeline runs with),
 * through the runner `deno task db:migrate` uses.
 */
export async function freshDatabase(server: string, wanted: string): Promise<BenchDatabase> {
  // PostgreSQL cuts names at 63 bytes: cut them here, so that the name used is the name reported
  const name = wanted.slice(0, 63);
  const url = `${server}/${name}`;
  await dropDatabase(url);
  await ensureDatabase(url);
  await migrateDatabase(url, {}, { migrations: SQL_MIGRATIONS });
  return {
    url,
    name,
    async [Symbol.asyncDispose]() {
      await dropDatabase(url);
    },
  };
}

/** Runs `CHECKPOINT` so that dirty buffers of an earlier phase are not flushed during the next. */
export async function checkpoint(server: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${server}/postgres` });
  await client.connect();
  try {
    await client.query("CHECKPOINT");
  } finally {
    await client.end();
  }
}

/** Rows in `readings` and `dead_letters`. */
export async function countRows(client: pg.Client): Promise<{ readings: number; deadLetters: number }> {
  const { rows } = await client.query<{ r: string; d: string }>(
    "SELECT (SELECT count(*) FROM readings) AS r, (SELECT count(*) FROM dead_letters) AS d",
  );
  return { readings: Number(rows[0]?.r ?? 0), deadLetters: Number(rows[0]?.d ?? 0) };
}

/** Connects a client to `url` (over TLS, verifying the server against `tls.ca`, when given). */
export async function connect(url: string, applicationName = "heartbeat-bench", tls?: DbTls): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: applicationName,
    ...(tls === undefined ? {} : { ssl: { ca: tls.ca } }),
  });
  await client.connect();
  return client;
}

/**
 * Empties every table of the `public` schema (readings, dead_letters, alerts, readings_5s, ...)
 * and resets their sequences: a fresh database state where a fresh database cannot be made (the
 * secured servers' one database, whose grants the consumer's role needs).
 */
export async function truncateTables(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    "SELECT format('%I', tablename) AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
  );
  const names = rows.map((r) => r.name);
  if (names.length > 0) await client.query(`TRUNCATE ${names.join(", ")} RESTART IDENTITY`);
  return names;
}

async function copyChunks(client: pg.Client, sql: string, chunks: readonly Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    const stream = client.query(copyFrom(sql));
    const done = Promise.race([once(stream, "finish"), once(stream, "error").then(([e]) => Promise.reject(e))]);
    stream.end(chunk);
    await done;
  }
}

/**
 * The ceiling: `COPY ... FROM STDIN` of the pre-encoded rows, one COPY (one autocommitted
 * transaction) per chunk, readings then dead letters, on one connection.
 *
 * @returns elapsed milliseconds
 */
export async function copyCeiling(
  url: string,
  columns: ReadingColumns,
  readingChunks: readonly Buffer[],
  deadLetterChunks: readonly Buffer[],
): Promise<number> {
  const client = await connect(url);
  try {
    const began = performance.now();
    await copyChunks(client, `COPY readings (${columns.names.join(", ")}) FROM STDIN`, readingChunks);
    await copyChunks(client, `COPY dead_letters (${DEAD_LETTER_COLUMNS}) FROM STDIN`, deadLetterChunks);
    return performance.now() - began;
  } finally {
    await client.end();
  }
}

/**
 * `COPY <table> (<columns>) FROM STDIN` of pre-encoded text chunks, one COPY (one autocommitted
 * transaction) per chunk, on one connection: the ceiling of another table (the peer's).
 *
 * @returns elapsed milliseconds
 */
export async function copyTable(
  url: string,
  table: string,
  columns: readonly string[],
  chunks: readonly Buffer[],
): Promise<number> {
  const client = await connect(url);
  try {
    const began = performance.now();
    await copyChunks(client, `COPY ${table} (${columns.join(", ")}) FROM STDIN`, chunks);
    return performance.now() - began;
  } finally {
    await client.end();
  }
}

function insertOne(columns: ReadingColumns): string {
  const params = columns.names.map((_, i) => `$${i + 1}`).join(", ");
  return `INSERT INTO readings (${columns.names.join(", ")}) VALUES (${params})`;
}

/**
 * The reference Python consumer's method: for every message a new connection, one INSERT,
 * commit (autocommit), close.
 *
 * @returns elapsed milliseconds
 */
export async function insertPerMessageNewConnection(
  url: string,
  columns: ReadingColumns,
  rows: readonly SampleReading[],
): Promise<number> {
  const sql = insertOne(columns);
  const began = performance.now();
  for (const r of rows) {
    const client = new pg.Client({ connectionString: url, application_name: "heartbeat-bench-baseline" });
    await client.connect();
    try {
      await client.query(sql, columns.values(r));
    } finally {
      await client.end();
    }
  }
  return performance.now() - began;
}

/**
 * One INSERT per row, autocommit, on one connection (the reference without its reconnects).
 *
 * @returns elapsed milliseconds
 */
export async function insertPerRowOneConnection(
  url: string,
  columns: ReadingColumns,
  rows: readonly SampleReading[],
): Promise<number> {
  const sql = insertOne(columns);
  const client = await connect(url, "heartbeat-bench-baseline");
  try {
    const began = performance.now();
    for (const r of rows) await client.query(sql, columns.values(r));
    return performance.now() - began;
  } finally {
    await client.end();
  }
}

/** Latency percentiles in milliseconds. */
export interface LatencyStats {
  /** Readings the figures are over. */
  n: number;
  /** Median. */
  p50: number;
  /** 95th percentile. */
  p95: number;
  /** 99th percentile. */
  p99: number;
  /** Largest. */
  max: number;
}

/**
 * `ingested_at - recorded_at` percentiles over the stored readings whose `recorded_at` is at least
 * `warmupMs` after the first one (`warmupMs` 0 takes them all). `ingested_at` is `now()` of the
 * batch's transaction, i.e. its BEGIN: the commit follows by the batch's write time.
 */
export async function latencyStats(client: pg.Client, warmupMs: number): Promise<LatencyStats> {
  const { rows } = await client.query<{ n: string; p: number[] | null; max: number | null }>(
    `WITH first AS (SELECT min(recorded_at) AS t FROM readings),
          lat AS (
            SELECT extract(epoch FROM r.ingested_at - r.recorded_at) * 1000 AS ms
            FROM readings r, first
            WHERE r.recorded_at >= first.t + make_interval(secs => $1::float8 / 1000)
          )
     SELECT count(*) AS n,
            percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ms) AS p,
            max(ms) AS max
     FROM lat`,
    [warmupMs],
  );
  const row = rows[0];
  const p = row?.p ?? [NaN, NaN, NaN];
  return {
    n: Number(row?.n ?? 0),
    p50: Number(p[0]),
    p95: Number(p[1]),
    p99: Number(p[2]),
    max: Number(row?.max ?? NaN),
  };
}

/** First and last `ingested_at`/`rejected_at` (transaction start times) as epoch ms. */
export async function commitSpan(client: pg.Client): Promise<{ firstMs: number; lastMs: number; batches: number }> {
  const { rows } = await client.query<{ first: Date | null; last: Date | null; batches: string }>(
    `SELECT min(t) AS first, max(t) AS last, count(DISTINCT t) AS batches FROM (
       SELECT ingested_at AS t FROM readings UNION ALL SELECT rejected_at FROM dead_letters) x`,
  );
  const row = rows[0];
  return {
    firstMs: row?.first?.getTime() ?? NaN,
    lastMs: row?.last?.getTime() ?? NaN,
    batches: Number(row?.batches ?? 0),
  };
}

/** The columns of a table, in order, with whether each has a default and is nullable. */
export async function tableColumns(
  url: string,
  table: string,
): Promise<{ name: string; hasDefault: boolean; nullable: boolean }[]> {
  const client = await connect(url);
  try {
    const { rows } = await client.query<{ name: string; has_default: boolean; nullable: boolean }>(
      `SELECT column_name AS name, column_default IS NOT NULL AS has_default, is_nullable = 'YES' AS nullable
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    return rows.map((r) => ({ name: r.name, hasDefault: r.has_default, nullable: r.nullable }));
  } finally {
    await client.end();
  }
}

/**
 * The server's processes by role: the backends serving the databases `ours` accepts (a run's), the
 * server's own background processes (WAL writer, checkpointer, autovacuum, ...), and the backends
 * of every other database (other users' work: noise for the benchmark).
 */
export async function serverProcesses(
  server: string,
  ours: (database: string) => boolean,
  tls?: DbTls,
): Promise<{ run: number[]; background: number[]; otherDatabases: number[] }> {
  const client = await connect(`${server}/postgres`, "heartbeat-bench", tls);
  try {
    const { rows } = await client.query<{ pid: number; backend_type: string; datname: string | null }>(
      "SELECT pid, backend_type, datname FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
    );
    const user = (t: string) => t === "client backend" || t === "parallel worker";
    return {
      run: rows.filter((r) => user(r.backend_type) && ours(r.datname ?? "")).map((r) => r.pid),
      background: rows.filter((r) => !user(r.backend_type)).map((r) => r.pid),
      otherDatabases: rows.filter((r) => user(r.backend_type) && !ours(r.datname ?? "")).map((r) => r.pid),
    };
  } finally {
    await client.end();
  }
}

/** The server's version string. */
export async function serverVersion(server: string): Promise<string> {
  const client = await connect(`${server}/postgres`);
  try {
    // SHOW names its column after the setting: server_version
    const { rows } = await client.query<{ server_version: string }>("SHOW server_version");
    return rows[0]?.server_version ?? "unknown";
  } finally {
    await client.end();
  }
}
