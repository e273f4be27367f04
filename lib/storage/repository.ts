/**
 * The repository: every SQL statement of the pipeline lives here. It writes batches of valid
 * readings, dead letters and alerts in one transaction, loads the history the episode tracker
 * rebuilds from, and applies schema SQL. Its failures are classified (`DataError` vs
 * `TransientError`, `errors.ts`) so that callers never read SQLSTATEs.
 *
 * Requires `--allow-net=<database host:port>`; node-postgres reads `PG*` environment variables
 * too, so entry scripts run with `--ignore-env` for every name they do not allow.
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
import type { Buffer } from "node:buffer";
import { type Alert, type Beat, type CustomerHistory, LONG_BASELINE_READINGS } from "../domain/episodes.ts";
import { alertColumns, deadLetterColumns, readingColumns } from "./_columns.ts";
import { insertDeadLettersSql, insertReadingsSql } from "./_rollup_sql.ts";
import { classifyError, UnencodableRowError } from "./errors.ts";
import type { DeadLetter, StoredReading, WriteResult } from "./rows.ts";

/** Readings in, and the rollups (5 s, 1 min, 1 h) of the rows actually stored kept in step: `_rollup_sql.ts`. */
const INSERT_READINGS = insertReadingsSql(
  [
    "customer_id",
    "recorded_at",
    "heart_rate",
    "is_anomaly",
    "reported_anomaly",
    "reading_id",
    "kafka_partition",
    "kafka_offset",
    "category",
  ],
  ["text", "timestamptz", "float8", "bool", "bool", "uuid", "int4", "int8", "text"],
);

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

/** One thing {@link Repository.maintainPartitions} did (or, in a dry run, would do). */
export interface PartitionAction {
  /** `create`, `drop` (retention), `move-default`, `delete-default` (older than the window) or `skipped` (lock). */
  action: "create" | "drop" | "move-default" | "delete-default" | "skipped";
  /** The partition it concerns. */
  partition: string;
  /** What and why, one line. */
  detail: string;
}

/** Options of {@link Repository.maintainPartitions}. */
export interface MaintainOptions {
  /** Report, change nothing. */
  dryRun?: boolean;
  /** The instant maintenance is for (default now; tests move it). */
  at?: string;
  /** Longest wait for each step's lock, ms (default 2000). */
  lockWaitMs?: number;
}

/** A partitioned table's settings. */
export interface PartitionSettings {
  table: string;
  /** Partitions made ahead of today. */
  premake: number;
  /** Rows older than this are dropped with their partition; null: kept for ever. */
  retentionMs: number | null;
}

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

const INSERT_DEAD_LETTERS = insertDeadLettersSql();

/** Options of {@link Repository.connect}. */
export interface RepositoryOptions {
  /** Connections in the pool (default 2: one writing, one spare). */
  poolSize?: number;
  /** Application name shown in `pg_stat_activity`. */
  applicationName?: string;
  /** Called when an idle pooled connection fails (e.g. the server restarted). */
  onIdleError?: (error: Error) => void;
  /** TLS options (node-postgres' `ssl`), or false (default) for none. */
  ssl?: false | Record<string, unknown>;
  /** The password, when the URL has none. */
  password?: string;
  /**
   * Longest a statement of {@link Repository.writeBatch} may take, ms, before the batch fails (and
   * its connection is dropped) so that the caller retries on a new one: a link that carries
   * nothing never fails by itself (default: no bound).
   */
  writeTimeoutMs?: number;
}

/** The data layer over a node-postgres pool. Close it with {@link Repository.close}. */
export class Repository {
  readonly #pool: pg.Pool;
  /** pg's per-statement `query_timeout` for the batch's statements, or {} for none. */
  readonly #writeTimeout: { query_timeout?: number };

  private constructor(pool: pg.Pool, writeTimeoutMs?: number) {
    this.#pool = pool;
    this.#writeTimeout = writeTimeoutMs === undefined ? {} : { query_timeout: writeTimeoutMs };
  }

  /**
   * Creates a repository for a `postgres://` URL. Connections open lazily, so this never fails
   * on an unreachable server; the first query does.
   */
  static connect(url: string, options: RepositoryOptions = {}): Repository {
    const pool = new pg.Pool({
      connectionString: url,
      ...(options.ssl ? { ssl: options.ssl } : {}),
      ...(options.password === undefined ? {} : { password: options.password }),
      max: options.poolSize ?? 2,
      keepAlive: true,
      application_name: options.applicationName ?? "heartbeat",
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // an idle client that loses its server emits 'error' on the pool; unhandled it kills the process
    pool.on("error", (error) => options.onIdleError?.(error));
    // a checked-out client whose connection is cut (server restart, pg_terminate_backend) emits
    // 'error' on itself as well as failing its query: the query's rejection is what we act on
    pool.on("connect", (client) => client.on("error", () => {}));
    return new Repository(pool, options.writeTimeoutMs);
  }

  /**
   * Writes valid readings and dead letters in one transaction. Duplicates (redelivered records)
   * are skipped by the primary keys and counted, never stored twice.
   *
   * @throws `DataError` when the batch's data is refused (or cannot be encoded): retrying cannot help
   * @throws `TransientError` for everything else (connection, server, schema): retry
   */
  async writeBatch(readings: StoredReading[], deadLetters: DeadLetter[], alerts: Alert[] = []): Promise<WriteResult> {
    // encoded before a connection is taken; a value no column can hold is the batch's data at fault
    let readingValues: Buffer[] | null, letterValues: unknown[] | null, alertValues: unknown[] | null;
    try {
      readingValues = readings.length === 0 ? null : readingColumns(readings);
      letterValues = deadLetters.length === 0 ? null : deadLetterColumns(deadLetters);
      alertValues = alerts.length === 0 ? null : alertColumns(alerts);
    } catch (error) {
      throw new UnencodableRowError(error);
    }
    const client = await this.#pool.connect().catch((error) => {
      throw classifyError(error);
    });
    let broken = false;
    try {
      const timeout = this.#writeTimeout;
      await client.query({ text: "BEGIN", ...timeout });
      const inserted = readingValues === null ? 0 : (await client.query<{ inserted: number }>({
        name: "insert_readings",
        text: INSERT_READINGS,
        values: readingValues,
        ...timeout,
      })).rows[0]?.inserted ?? 0;
      const rejected = letterValues === null ? 0 : (await client.query<{ inserted: number }>({
        name: "insert_dead_letters",
        text: INSERT_DEAD_LETTERS,
        values: letterValues,
        ...timeout,
      })).rows[0]?.inserted ?? 0;
      if (alertValues !== null) {
        await client.query({ name: "upsert_alerts", text: UPSERT_ALERTS, values: alertValues, ...timeout });
      }
      await client.query({ text: "COMMIT", ...timeout });
      return {
        inserted,
        duplicates: readings.length - inserted,
        rejected,
        rejectedDuplicates: deadLetters.length - rejected,
      };
    } catch (error) {
      if (error instanceof Error && error.message === "Query read timeout") {
        broken = true; // the statement may still be running there: drop the connection, the server rolls back
      } else {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true; // the connection is gone; do not return it to the pool
        }
      }
      throw classifyError(error);
    } finally {
      client.release(broken);
    }
  }

  /** Runs a query and returns its rows; failures classified. */
  async #query<R extends object>(text: string, values: unknown[] = []): Promise<R[]> {
    try {
      return (await this.#pool.query(text, values)).rows as R[];
    } catch (error) {
      throw classifyError(error);
    }
  }

  /**
   * Checks that the database answers and holds the tables the consumer writes.
   *
   * @throws `TransientError` with the server's SQLSTATE (e.g. `42P01` for a missing table)
   */
  async checkSchema(): Promise<void> {
    await this.#query("SELECT 1 FROM readings LIMIT 0");
    await this.#query("SELECT 1 FROM dead_letters LIMIT 0");
    // the newest tables the batch statement writes (sql/migrations/003): an older schema says so here
    await this.#query("SELECT 1 FROM readings_1m, readings_1h LIMIT 0");
    await this.#query("SELECT 1 FROM dead_letters_1m, dead_letters_1h LIMIT 0"); // migration 006
    await this.#query("SELECT kafka_time FROM dead_letters LIMIT 0"); // migration 005
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
    const open = await this.#query<{ customer_id: string; kind: Alert["kind"]; started_at: string }>(OPEN_ALERTS, [
      customers.map((c) => c.customerId),
      customers.map((c) => c.before),
    ]);
    const openBy = new Map(open.map((o) => [o.customer_id, o]));
    const beats = new Map<string, Map<number, Beat>>();
    const fetch = async (of: typeof customers, since: string[], limit: number[]) => {
      const rows = await this.#query<{ customer_id: string; at: string; at_ms: number; heart_rate: number }>(HISTORY, [
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
    // with an open alert, also the readings before it started that the detector's long baseline
    // had then (LONG_BASELINE_READINGS), so that the replay judges its readings as they were judged
    const opened = customers.filter((c) => openBy.has(c.customerId));
    if (opened.length > 0) {
      await fetch(
        opened.map((c) => ({ ...c, before: openBy.get(c.customerId)!.started_at })),
        opened.map(() => "-infinity"),
        opened.map(() => LONG_BASELINE_READINGS),
      );
    }
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
        open: o === undefined ? null : ({
          customerId: c.customerId,
          kind: o.kind,
          startedAt: o.started_at,
          startedAtMs: Date.parse(o.started_at),
        } as Alert),
        beats: list,
      });
    }
    return out;
  }

  /**
   * Runs the partition maintenance step (`heartbeat_maintain()`, sql/migrations/002): rows of the
   * default partitions moved to their day's partition (or deleted when older than the retention
   * window), the partitions of yesterday, today and the days ahead made, partitions older than the
   * window detached and dropped. A step that waited `lockWaitMs` for its lock in vain is returned
   * as `skipped`, for the next run. With `dryRun` nothing changes.
   *
   * @throws `TransientError` (e.g. SQLSTATE `42883` when the database predates migration 002)
   */
  async maintainPartitions(options: MaintainOptions = {}): Promise<PartitionAction[]> {
    const rows = await this.#query<{ action: PartitionAction["action"]; partition_name: string; detail: string }>(
      "SELECT action, partition_name, detail FROM heartbeat_maintain($1::timestamptz, $2, $3::interval)",
      [options.at ?? new Date().toISOString(), options.dryRun ?? false, `${options.lockWaitMs ?? 2000} milliseconds`],
    );
    return rows.map((r) => ({ action: r.action, partition: r.partition_name, detail: r.detail }));
  }

  /** The partitioned tables and their settings (`heartbeat_partitions`). */
  async partitionSettings(): Promise<PartitionSettings[]> {
    const rows = await this.#query<{ parent: string; premake: number; retention_s: number | null }>(
      "SELECT parent, premake, extract(epoch FROM retention)::float8 AS retention_s FROM heartbeat_partitions ORDER BY 1",
    );
    return rows.map((r) => ({
      table: r.parent,
      premake: r.premake,
      retentionMs: r.retention_s === null ? null : r.retention_s * 1000,
    }));
  }

  /**
   * Changes a partitioned table's settings (as its owner or an administrator).
   *
   * @throws `DataError` for a value the table refuses (e.g. a retention under 2 days)
   * @throws `TypeError` naming a table that is not partitioned
   */
  async setPartitionSettings(table: string, change: { premake?: number; retentionMs?: number | null }): Promise<void> {
    const sets: string[] = [], values: unknown[] = [table];
    if (change.premake !== undefined) sets.push(`premake = $${values.push(change.premake)}`);
    if (change.retentionMs !== undefined) {
      sets.push(
        change.retentionMs === null
          ? "retention = NULL"
          : `retention = $${values.push(`${change.retentionMs} milliseconds`)}::interval`,
      );
    }
    if (sets.length === 0) return;
    const client = await this.#pool.connect().catch((error) => {
      throw classifyError(error);
    });
    try {
      const result = await client.query(`UPDATE heartbeat_partitions SET ${sets.join(", ")} WHERE parent = $1`, values);
      if (result.rowCount === 0) throw new TypeError(`Cannot configure ${table}: it is not a partitioned table`);
    } catch (error) {
      throw error instanceof TypeError ? error : classifyError(error);
    } finally {
      client.release();
    }
  }

  /** Applies schema SQL (idempotent statements) in one transaction. */
  async applySchema(sql: string): Promise<void> {
    const client = await this.#pool.connect();
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

  /** Closes every pooled connection. */
  async close(): Promise<void> {
    await this.#pool.end();
  }
}
