/**
 * The repository: every SQL statement of the pipeline lives here. It writes batches of valid
 * readings and dead letters in one transaction, applies the schema, and answers the read queries
 * the tests, the benchmark and the tools need.
 *
 * Requires `--allow-net=<database host:port>`; node-postgres reads `PG*` environment variables
 * too, so entry scripts run with `--ignore-env` for every name they do not allow.
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
import { Buffer } from "node:buffer";
import type { Alert, Beat, CustomerHistory } from "../domain/episodes.ts";
import type { Reading, Rejection } from "../domain/reading.ts";
import { BinaryArray, OID } from "./pg_binary.ts";

/** A valid reading together with the Kafka position it was read from. */
export interface StoredReading extends Reading {
  /** Kafka partition the reading came from. */
  partition: number;
  /** Kafka offset of the reading's record, as a decimal string. */
  offset: string;
}

/** A rejected Kafka record with everything needed to inspect or replay it. */
export interface DeadLetter {
  /** Topic the record was read from. */
  topic: string;
  /** Partition of the record. */
  partition: number;
  /** Offset of the record, as a decimal string. */
  offset: string;
  /** Raw key bytes, or null for an unkeyed record. */
  key: Uint8Array | null;
  /** Raw value bytes, or null for a tombstone. */
  value: Uint8Array | null;
  /** Kafka record timestamp in epoch milliseconds, when known. */
  timestampMs: number | null;
  /** Every reason the record was rejected; never empty. */
  reasons: Rejection[];
}

/**
 * A batch holds a value the repository cannot encode for its column (a reading id that is not a
 * UUID, say; the validator keeps such values out, so this means the two disagree). It carries
 * SQLSTATE 22000, data_exception, like the server's own refusals of data: retrying the same batch
 * cannot help, so the sink splits it and dead-letters the one record instead of retrying forever.
 */
export class UnencodableRowError extends Error {
  /** SQLSTATE class 22, data exception, as node-postgres reports the server's. */
  readonly code = "22000";

  /** @param cause what the encoder threw */
  constructor(cause: unknown) {
    super(`cannot encode the row for PostgreSQL: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = "UnencodableRowError";
  }
}

/** What one {@link Repository.writeBatch} did. */
export interface WriteResult {
  /** Readings inserted. */
  inserted: number;
  /** Readings skipped because the same (customer_id, recorded_at) was already stored. */
  duplicates: number;
  /** Dead letters inserted. */
  rejected: number;
  /** Dead letters skipped because the same (topic, partition, offset) was already stored. */
  rejectedDuplicates: number;
}

const INSERT_READINGS = `
INSERT INTO readings (customer_id, recorded_at, heart_rate, is_anomaly, reported_anomaly,
                      reading_id, kafka_partition, kafka_offset, category)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::bool[], $5::bool[],
                     $6::uuid[], $7::int4[], $8::int8[], $9::text[])
ON CONFLICT DO NOTHING`;

const UPSERT_ALERTS = `
INSERT INTO alerts (customer_id, kind, started_at, opened_at, last_at, ended_at, peak, reading_count, severity,
                    closed_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
                     $6::timestamptz[], $7::float8[], $8::int4[], $9::text[], $10::timestamptz[])
ON CONFLICT (customer_id, kind, started_at) DO UPDATE SET
  last_at = greatest(alerts.last_at, EXCLUDED.last_at),
  ended_at = coalesce(EXCLUDED.ended_at, alerts.ended_at),
  closed_at = coalesce(EXCLUDED.closed_at, alerts.closed_at),
  peak = CASE WHEN alerts.kind = 'bradycardia' THEN least(alerts.peak, EXCLUDED.peak)
              ELSE greatest(alerts.peak, EXCLUDED.peak) END,
  reading_count = greatest(alerts.reading_count, EXCLUDED.reading_count),
  severity = CASE WHEN 'critical' IN (alerts.severity, EXCLUDED.severity) THEN 'critical' ELSE 'warning' END,
  updated_at = now()`;

const ISO = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/** Most readings per customer that the time-window pass of {@link Repository.loadHistory} returns. */
export const TIME_WINDOW_CAP = 64;

const OPEN_ALERTS = `
SELECT DISTINCT ON (a.customer_id) a.customer_id, a.kind,
       to_char(a.started_at AT TIME ZONE 'UTC', ${ISO}) AS started_at
FROM alerts a JOIN unnest($1::text[], $2::timestamptz[]) AS c(customer_id, before) USING (customer_id)
WHERE a.started_at < c.before AND (a.closed_at IS NULL OR a.closed_at >= c.before)
ORDER BY a.customer_id, a.started_at DESC`;

const HISTORY = `
SELECT c.customer_id, to_char(h.recorded_at AT TIME ZONE 'UTC', ${ISO}) AS at,
       (extract(epoch FROM h.recorded_at) * 1000)::float8 AS at_ms, h.heart_rate
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::int4[]) AS c(customer_id, before, since, lim)
CROSS JOIN LATERAL (
  SELECT recorded_at, heart_rate FROM readings r
  WHERE r.customer_id = c.customer_id AND r.recorded_at < c.before AND r.recorded_at >= c.since
  ORDER BY r.recorded_at DESC LIMIT c.lim
) h
ORDER BY c.customer_id, h.recorded_at`;

const INSERT_DEAD_LETTERS = `
INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, kafka_key, kafka_timestamp,
                          payload, payload_bytes, reason, reasons)
SELECT t, p, o, k, to_timestamp(ts / 1000.0), v, coalesce(length(v), 0), r, rs::jsonb
FROM unnest($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::float8[], $6::bytea[],
            $7::text[], $8::text[]) AS x(t, p, o, k, ts, v, r, rs)
ON CONFLICT DO NOTHING`;

/**
 * Redacts the password of a PostgreSQL URL so it can be logged.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./repository.ts";
 * redactUrl("postgres://writer:secret@db:5432/heartbeat"); // "postgres://writer:***@db:5432/heartbeat"
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

/** Options of {@link Repository.connect}. */
export interface RepositoryOptions {
  /** Connections in the pool (default 2: one writing, one spare). */
  poolSize?: number;
  /** Application name shown in `pg_stat_activity`. */
  applicationName?: string;
  /** Called when an idle pooled connection fails (e.g. the server restarted). */
  onIdleError?: (error: Error) => void;
}

/** The data layer over a node-postgres pool. Close it with {@link Repository.close}. */
export class Repository {
  /** The underlying pool, for tests and tools that need raw access. */
  readonly pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /**
   * Creates a repository for a `postgres://` URL. Connections open lazily, so this never fails
   * on an unreachable server; the first query does.
   */
  static connect(url: string, options: RepositoryOptions = {}): Repository {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 2,
      application_name: options.applicationName ?? "heartbeat",
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // an idle client that loses its server emits 'error' on the pool; unhandled it kills the process
    pool.on("error", (error) => options.onIdleError?.(error));
    // a checked-out client whose connection is cut (server restart, pg_terminate_backend) emits
    // 'error' on itself as well as failing its query: the query's rejection is what we act on
    pool.on("connect", (client) => client.on("error", () => {}));
    return new Repository(pool);
  }

  /**
   * Writes valid readings and dead letters in one transaction. Duplicates (redelivered records)
   * are skipped by the primary keys and counted, never stored twice.
   */
  async writeBatch(readings: StoredReading[], deadLetters: DeadLetter[], alerts: Alert[] = []): Promise<WriteResult> {
    // encoded before a connection is taken; a value no column can hold is the batch's data at fault
    let readingValues: Buffer[] | null, letterValues: unknown[] | null, alertValues: unknown[] | null;
    try {
      readingValues = readings.length === 0 ? null : _readingColumns(readings);
      letterValues = deadLetters.length === 0 ? null : deadLetterColumns(deadLetters);
      alertValues = alerts.length === 0 ? null : alertColumns(alerts);
    } catch (error) {
      throw new UnencodableRowError(error);
    }
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      const inserted = readingValues === null
        ? 0
        : (await client.query({ name: "insert_readings", text: INSERT_READINGS, values: readingValues })).rowCount ??
          0;
      const rejected = letterValues === null ? 0 : (await client.query({
        name: "insert_dead_letters",
        text: INSERT_DEAD_LETTERS,
        values: letterValues,
      })).rowCount ?? 0;
      if (alertValues !== null) {
        await client.query({ name: "upsert_alerts", text: UPSERT_ALERTS, values: alertValues });
      }
      await client.query("COMMIT");
      return {
        inserted,
        duplicates: readings.length - inserted,
        rejected,
        rejectedDuplicates: deadLetters.length - rejected,
      };
    } catch (error) {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken = true; // the connection is gone; do not return it to the pool
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /** Runs a simple query and returns its rows; for tools and tests, not the hot path. */
  async query<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.pool.query(text, values)).rows as R[];
  }

  /**
   * The history the episode tracker rebuilds a customer's state from: its alert open at `before`
   * (one that started earlier and was not closed by then, even if it has closed since), and the
   * readings before `before` since that alert started, or else the last `windowReadings` readings
   * and every reading within `windowMs` before `before`.
   */
  async loadHistory(
    customers: { customerId: string; before: string }[],
    windowReadings: number,
    windowMs: number,
  ): Promise<Map<string, CustomerHistory>> {
    const open = await this.query<{ customer_id: string; kind: Alert["kind"]; started_at: string }>(OPEN_ALERTS, [
      customers.map((c) => c.customerId),
      customers.map((c) => c.before),
    ]);
    const openBy = new Map(open.map((o) => [o.customer_id, o]));
    const beats = new Map<string, Map<number, Beat>>();
    const fetch = async (of: typeof customers, since: string[], limit: number[]) => {
      const rows = await this.query<{ customer_id: string; at: string; at_ms: number; heart_rate: number }>(HISTORY, [
        of.map((c) => c.customerId),
        of.map((c) => c.before),
        since,
        limit,
      ]);
      for (const r of rows) {
        let m = beats.get(r.customer_id);
        if (m === undefined) beats.set(r.customer_id, m = new Map());
        m.set(r.at_ms, { at: r.at, atMs: r.at_ms, heartRate: r.heart_rate });
      }
    };
    // with an open alert: every reading since it started; else the last N readings...
    await fetch(
      customers,
      customers.map((c) => openBy.get(c.customerId)?.started_at ?? "-infinity"),
      customers.map((c) => openBy.has(c.customerId) ? 100_000 : windowReadings),
    );
    // ...and, where those N do not reach back `windowMs` (a customer reading many times a second),
    // the readings within that window too, capped: a customer would need more than the cap within
    // the window (tens of readings a second) for a not-yet-open run to reach back further
    const short = customers.filter((c) => {
      const got = beats.get(c.customerId);
      if (openBy.has(c.customerId) || got === undefined || got.size < windowReadings) return false;
      const oldest = Math.min(...got.keys());
      return oldest > Date.parse(c.before) - windowMs;
    });
    if (short.length > 0) {
      await fetch(
        short,
        short.map((c) => new Date(Date.parse(c.before) - windowMs).toISOString()),
        short.map(() => TIME_WINDOW_CAP),
      );
    }
    const out = new Map<string, CustomerHistory>();
    for (const c of customers) {
      const o = openBy.get(c.customerId);
      const list = [...(beats.get(c.customerId)?.values() ?? [])].sort((a, b) => a.atMs - b.atMs);
      out.set(c.customerId, {
        open: o === undefined ? null : ({ customerId: c.customerId, kind: o.kind, startedAt: o.started_at } as Alert),
        beats: list,
      });
    }
    return out;
  }

  /** Checks the database answers (used by readiness). */
  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  /** Applies schema SQL (idempotent statements) in one transaction. */
  async applySchema(sql: string): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(sql);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /** Counts stored readings and dead letters. */
  async counts(): Promise<{ readings: number; deadLetters: number }> {
    const [row] = await this.query<{ readings: string; dead_letters: string }>(
      "SELECT (SELECT count(*) FROM readings) AS readings, (SELECT count(*) FROM dead_letters) AS dead_letters",
    );
    return { readings: Number(row?.readings ?? 0), deadLetters: Number(row?.dead_letters ?? 0) };
  }

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Creates a database if it does not exist, connecting to the server's `postgres` database.
 * Needs a role allowed to CREATE DATABASE; used by `deno task db:migrate` and the tests.
 */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  if (name === "") throw new TypeError(`Cannot create a database: the URL ${redactUrl(url)} names none`);
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if ((found.rowCount ?? 0) > 0) return false;
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
    return true;
  } finally {
    await client.end();
  }
}

/** Drops a database if it exists (tests only), terminating its connections first. */
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

/** Quotes a PostgreSQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The nine columns of the readings INSERT as PostgreSQL binary arrays (lib/pg_binary.ts): the
 * server takes them without parsing text. Exported for the test that compares them with
 * PostgreSQL's own `array_send`.
 */
export function _readingColumns(rows: readonly StoredReading[]): Buffer[] {
  const n = rows.length;
  let customerBytes = 0, categoryBytes = 0;
  for (const r of rows) {
    customerBytes += 3 * r.customerId.length; // UTF-8 takes at most 3 bytes a UTF-16 code unit
    categoryBytes += 3 * r.category.length;
  }
  const customer = new BinaryArray(OID.text, n, customerBytes);
  const at = new BinaryArray(OID.timestamptz, n, 8 * n);
  const hr = new BinaryArray(OID.float8, n, 8 * n);
  const anomaly = new BinaryArray(OID.bool, n, n);
  const reported = new BinaryArray(OID.bool, n, n);
  const id = new BinaryArray(OID.uuid, n, 16 * n);
  const partition = new BinaryArray(OID.int4, n, 4 * n);
  const offset = new BinaryArray(OID.int8, n, 8 * n);
  const category = new BinaryArray(OID.text, n, categoryBytes);
  for (const r of rows) {
    customer.text(r.customerId);
    at.timestamp(r.recordedAt, r.recordedAtMs);
    hr.float8(r.heartRate);
    anomaly.bool(r.isAnomaly);
    if (r.reportedAnomaly === null) reported.null();
    else reported.bool(r.reportedAnomaly);
    if (r.readingId === null) id.null();
    else id.uuid(r.readingId);
    partition.int4(r.partition);
    offset.int8Text(r.offset);
    category.text(r.category);
  }
  return [customer, at, hr, anomaly, reported, id, partition, offset, category].map((a) => a.done());
}

function alertColumns(rows: Alert[]): unknown[] {
  return [
    rows.map((a) => a.customerId),
    rows.map((a) => a.kind),
    rows.map((a) => a.startedAt),
    rows.map((a) => a.openedAt),
    rows.map((a) => a.lastAt),
    rows.map((a) => a.endedAt),
    rows.map((a) => a.peak),
    rows.map((a) => a.readings),
    rows.map((a) => a.severity),
    rows.map((a) => a.closedAt),
  ];
}

function deadLetterColumns(rows: DeadLetter[]): unknown[] {
  const toBuffer = (b: Uint8Array | null) => b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return [
    rows.map((r) => r.topic),
    rows.map((r) => r.partition),
    rows.map((r) => r.offset),
    rows.map((r) => toBuffer(r.key)),
    rows.map((r) => r.timestampMs),
    rows.map((r) => toBuffer(r.value)),
    rows.map((r) => r.reasons[0]?.code ?? "unknown"),
    rows.map((r) => JSON.stringify(r.reasons)),
  ];
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
      await repository.query("SELECT 1 FROM readings LIMIT 0");
      await repository.query("SELECT 1 FROM dead_letters LIMIT 0");
      return;
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      const message = error instanceof Error ? error.message : String(error);
      if (code === "42P01" || code === "3D000") {
        throw new Error(`the database has no heartbeat schema (${message}); run: deno task db:migrate`, {
          cause: error,
        });
      }
      if (code.startsWith("28") || code === "42501") {
        throw new Error(`the database refused the login or access (${message})`, { cause: error });
      }
      if (signal?.aborted) return;
      log.warn("database not reachable yet; retrying", { error, retryInMs: delay });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(5_000, delay * 2);
    }
  }
}
