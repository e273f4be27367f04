#!/usr/bin/env -S deno run --allow-net=127.0.0.1:5432 --allow-read=grafana,sql,bench/results,bench/baseline.json --allow-write=bench/results --allow-sys=loadavg --ignore-env
/**
 * `deno task bench:dashboard`: how long each query of the Grafana dashboard takes on 10 million
 * readings, and what the dashboard's schema additions cost the consumer's writes.
 *
 * 1. **Fill** (skipped when the database exists and holds the same fill): a dedicated database
 *    `heartbeat_bench_dashboard` with the migrations and `sql/roles.sql`, filled in SQL
 *    (`INSERT ... SELECT` over `generate_series`): 200 customers reading once a second for 14 hours
 *    (10,080,000 readings) with a daily rhythm, sensor noise, isolated outliers and about 25
 *    bradycardia/tachycardia episodes per customer (some critical, 8 still open at the end), the
 *    consumer's categories, ingest delays of 20–320 ms with a 4 s stall every hour; the alerts those
 *    episodes make; 1 % dead letters with eight reason codes. Readings go in one hour per
 *    statement, so the rollup trigger folds them in as it does live batches (larger).
 * 2. **Queries**: every panel target, the `$customer` variable and the annotation query, expanded
 *    as Grafana expands them (grafana/macros.ts) with `$customer` = All, run as `grafana_reader`
 *    over the last 15 minutes of the data (the default range) and the last 24 hours: one warm-up,
 *    then `--runs` timed runs (wall time, all rows fetched) and as many `EXPLAIN (ANALYZE, TIMING
 *    OFF)` runs (server execution time); medians reported.
 * 3. **Ingest cost** (`--ingest-cost`): the consumer's own write path (`Repository.writeBatch`,
 *    batches of 5,000) into fresh databases with the schema before the dashboard's additions, with
 *    each addition, and with all of them; rounds interleaved, medians reported.
 *
 * Prints tables and writes `bench/results/dashboard-latest.json` (not in git); `--compare` then
 * prints the headline timings beside the reviewed `bench/baseline.json`'s.
 *
 * `deno task bench:dashboard [--fresh] [--runs 5] [--ingest-cost] [--ingest-readings 200000] [--ingest-rounds 5] [--compare]`
 *
 * Requires `--allow-net=127.0.0.1:5432` (PostgreSQL as `postgres`, trust),
 * `--allow-read=grafana,sql,bench/results,bench/baseline.json`, `--allow-write=bench/results` and
 * `--allow-sys=loadavg` (the load is recorded with the figures: other work on the machine slows
 * every query).
 *
 * @module
 */
import { parseArgs } from "node:util";
// @ts-types="@types/pg"
import pg from "pg";
import {
  ensureDatabase,
  migrateDatabase,
  quoteIdent,
  readMigrations,
  Repository,
  SQL_MIGRATIONS,
  SQL_ROLES,
  type StoredReading,
} from "../lib/storage/mod.ts";
import { dropDatabase } from "../tests/support/database.ts";
import type { Category } from "../lib/domain/heart_rate.ts";
import { dashboardQueries, type DashboardQuery, expandQuery, loadDashboard } from "../tests/support/grafana/queries.ts";
import { num, table } from "./report.ts";
import { printComparison } from "./compare_cli.ts";

const SERVER = "postgres://postgres@127.0.0.1:5432";
const READER = "postgres://grafana_reader:grafana_reader@127.0.0.1:5432";
/** The database filled and timed (`--database`): kept between runs, so a large fill is made once. */
const DEFAULT_DATABASE = "heartbeat_bench_dashboard";
/** The schema the ingest-cost variants cut up: the baseline (the schema.sql of before the migrations). */
const BASELINE_URL = new URL("001_baseline.sql", SQL_MIGRATIONS);
const RESULTS_URL = new URL("./results/dashboard-latest.json", import.meta.url);
/** The fill is fixed, so that runs compare: the data ends here. */
const DATA_END = "2026-11-25T12:00:00Z";
/** The ranges `--ranges` may name: the dashboard's default (15m), Grafana's "Last 24 hours", and the long ones. */
const RANGE_MS: Record<string, number> = {
  "15m": 15 * 60_000,
  "1h": 3_600_000,
  "24h": 24 * 3_600_000,
  "7d": 7 * 24 * 3_600_000,
  "30d": 30 * 24 * 3_600_000,
};
/** The target for the default range. */
const TARGET_MS = 100;

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    fresh: { type: "boolean", default: false },
    customers: { type: "string", default: "200" },
    hours: { type: "string", default: "14" },
    runs: { type: "string", default: "5" },
    "ingest-cost": { type: "boolean", default: false },
    "ingest-readings": { type: "string", default: "200000" },
    "ingest-rounds": { type: "string", default: "5" },
    "skip-queries": { type: "boolean", default: false },
    ranges: { type: "string", default: "15m,24h" },
    // "fixed" (runs compare with the baseline) or "now": the data ends at the start of this hour, so
    // that the partitions, the retention windows and readings_rollup() see it as live data
    end: { type: "string", default: "fixed" },
    compare: { type: "boolean", default: false },
    database: { type: "string", default: DEFAULT_DATABASE },
  },
});
const DATABASE = flags.database;
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(DATABASE)) {
  console.error(`error: Invalid --database: expected a lower-case SQL name, got ${JSON.stringify(DATABASE)}`);
  Deno.exit(2);
}

function positiveInt(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    throw new RangeError(
      `Cannot run the benchmark as '--${name}' must be a positive integer: current value is ${text}`,
    );
  }
  return n;
}

const customers = positiveInt("customers", flags.customers);
const hours = positiveInt("hours", flags.hours);
const runs = positiveInt("runs", flags.runs);
const ingestReadings = positiveInt("ingest-readings", flags["ingest-readings"]);
const ingestRounds = positiveInt("ingest-rounds", flags["ingest-rounds"]);
const RANGES = flags.ranges.split(",").map((r) => {
  const ms = RANGE_MS[r];
  if (ms === undefined) {
    throw new RangeError(`Cannot time range '${r}': expected some of ${Object.keys(RANGE_MS).join(", ")}`);
  }
  return [r, ms] as const;
});
if (flags.end !== "fixed" && flags.end !== "now") {
  throw new RangeError(`Cannot fill the database as '--end' must be fixed or now: current value is ${flags.end}`);
}
/** Where the fill ends. */
const FILL_END = flags.end === "now"
  ? new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString().replace(".000Z", "Z")
  : DATA_END;
const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
};

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const loadavg = (): number[] => Deno.loadavg().map((l) => Math.round(l * 100) / 100);

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: "heartbeat-bench-dashboard" });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// 1. the fill

/** What the database was filled with: a different fill is refilled. */
interface FillInfo {
  /** SHA-256 of the migrations and sql/roles.sql without comments: another schema is refilled. */
  schema: string;
  customers: number;
  hours: number;
  end: string;
  readings: number;
  deadLetters: number;
  alerts: number;
  openAlerts: number;
  rollupRows: number;
  sizes: Record<string, string>;
  fillSeconds: number;
}

/**
 * The fill, in SQL. `:S` seconds of `:C` customers ending at `:END`. Episodes first (a temp
 * table per episode and one per episode-second, with its heart rate), then the readings hour by
 * hour, then the alerts the episodes make and the dead letters.
 */
function fillStatements(
  c: number,
  s: number,
  end: string,
): { setup: string[]; hourly: (h: number) => string; after: string[] } {
  const t = (secondsExpr: string, customerExpr: string) =>
    `timestamptz '${end}' - make_interval(secs => ${s} - (${secondsExpr})) + make_interval(secs => ${customerExpr} * 0.004)`;
  const setup = [
    "SET work_mem = '256MB'",
    "SET maintenance_work_mem = '1GB'",
    "SELECT setseed(0.42)",
    // about one episode per customer every 2,000 s, 5-180 s long; 8 customers in one at the end
    `CREATE TEMP TABLE ep AS
     SELECT c, start_s, dur, kind, level FROM (
       SELECT c, floor(random() * (${s} - 200))::int AS start_s, 5 + floor(random() * 175)::int AS dur,
              CASE WHEN random() < 0.5 THEN 'bradycardia' ELSE 'tachycardia' END AS kind, random() AS level
       FROM generate_series(1, ${c}) c, generate_series(1, greatest(1, ${s} / 2000)) k
       UNION ALL
       SELECT c, ${s} - 30 - c, 1000, CASE WHEN c % 2 = 0 THEN 'bradycardia' ELSE 'tachycardia' END, random()
       FROM generate_series(1, least(8, ${c})) c
     ) x`,
    // one row per episode-second; k orders readings by time, then customer
    `CREATE TEMP TABLE ep_s AS
     SELECT DISTINCT ON (c, s) s::bigint * ${c} + c - 1 AS k, c, s, kind,
            CASE WHEN kind = 'bradycardia' THEN least(59, round(36 + level * 20 + random() * 3))
                 ELSE greatest(101, round(104 + level * 56 - random() * 3)) END AS hr
     FROM (SELECT c, start_s + g AS s, kind, level, start_s FROM ep, generate_series(0, dur - 1) g) x
     WHERE s < ${s}
     ORDER BY c, s, start_s`,
    "CREATE INDEX ON ep_s (k)",
    "ANALYZE ep_s",
  ];
  const hourly = (h: number) => {
    const first = BigInt(h) * 3600n * BigInt(c), last = BigInt(Math.min((h + 1) * 3600, s)) * BigInt(c) - 1n;
    return `INSERT INTO readings (customer_id, recorded_at, heart_rate, is_anomaly, category, reported_anomaly, reading_id,
                                  kafka_partition, kafka_offset, ingested_at)
     SELECT cid, ts, hr, hr < 60 OR hr > 100,
            CASE WHEN hr < 40 THEN 'critical_low' WHEN hr < 60 THEN 'bradycardia' WHEN hr <= 100 THEN 'normal'
                 WHEN hr <= 150 THEN 'tachycardia' ELSE 'critical_high' END,
            hr < 60 OR hr > 100, gen_random_uuid(), c % 6, k,
            ts + make_interval(secs => 0.02 + random() * 0.3 + CASE WHEN s % 3600 BETWEEN 1800 AND 1803 THEN 4 ELSE 0 END)
     FROM (
       SELECT g.k, c, s, 'CUST-' || lpad(c::text, 3, '0') AS cid, ${t("s", "c")} AS ts,
              coalesce(e.hr, CASE WHEN random() < 0.003 THEN 104 + round(random() * 10)
                                  ELSE round(64 + (c * 7919 % 20) + 6 * sin(s / 3000.0 + c) + random() * 8 - 4) END) AS hr
       FROM (SELECT k, (k / ${c})::int AS s, (k % ${c})::int + 1 AS c FROM generate_series(${first}, ${last}) k) g
       LEFT JOIN (SELECT k, hr FROM ep_s) e USING (k)
     ) x`;
  };
  const after = [
    // the alerts: each run of >= 5 abnormal seconds of one kind, opened at its 5th reading, closed
    // 3 readings after its last; runs reaching the end are still open
    `INSERT INTO alerts (customer_id, kind, started_at, opened_at, last_at, ended_at, closed_at, peak, reading_count,
                         severity, detected_at, updated_at)
     SELECT cid, kind, t0, t0 + interval '4 s', t1, CASE WHEN open THEN NULL ELSE t1 END,
            CASE WHEN open THEN NULL ELSE t1 + interval '3 s' END, peak, n,
            CASE WHEN (kind = 'bradycardia' AND peak < 40) OR (kind = 'tachycardia' AND peak > 150) THEN 'critical'
                 ELSE 'warning' END,
            t0 + interval '4.3 s', t1 + interval '0.3 s'
     FROM (
       SELECT 'CUST-' || lpad(c::text, 3, '0') AS cid, kind, n, peak, s1 >= ${s} - 3 AS open,
              ${t("s0", "c")} AS t0, ${t("s1", "c")} AS t1
       FROM (
         SELECT c, kind, min(s) AS s0, max(s) AS s1, count(*) AS n,
                CASE WHEN kind = 'bradycardia' THEN min(hr) ELSE max(hr) END AS peak
         FROM (SELECT c, s, kind, hr, s - row_number() OVER (PARTITION BY c, kind ORDER BY s) AS grp FROM ep_s) isl
         GROUP BY c, kind, grp
         HAVING count(*) >= 5
       ) runs
     ) a`,
    // 1 % dead letters, evenly spread, eight reasons
    `INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, kafka_key, kafka_timestamp, payload, payload_bytes,
                               reason, reasons, rejected_at, kafka_time)
     SELECT 'heartbeat-readings', i % 6, i, convert_to(cid, 'UTF8'), ts, p, length(p), r,
            jsonb_build_array(jsonb_build_object('code', r, 'field', 'heart_rate', 'detail', 'synthetic ' || r)),
            ts + interval '0.2 s', ts
     FROM (
       SELECT i, cid, ts, r,
              convert_to(format('{"customer_id":"%s","timestamp":"%s","heart_rate":"%s"}', cid, ts, r), 'UTF8') AS p
       FROM (
         SELECT i, 'CUST-' || lpad((i % ${c} + 1)::text, 3, '0') AS cid,
                timestamptz '${end}' - make_interval(secs => ${s} - i * 100.0 / ${c}) AS ts,
                (ARRAY['not_json', 'wrong_type', 'missing_field', 'heart_rate_out_of_range', 'timestamp_unparsable',
                       'customer_id_invalid', 'not_utf8', 'empty'])[1 + floor(random() * 8)::int] AS r
         FROM generate_series(0, ${BigInt(s) * BigInt(c) / 100n - 1n}) i
       ) x
     ) y`,
  ];
  return { setup, hourly, after };
}

async function readFillInfo(url: string): Promise<FillInfo | null> {
  return await withClient(url, async (client) => {
    const { rows } = await client.query<{ info: FillInfo }>(
      "SELECT info FROM bench_fill WHERE complete",
    ).catch(() => ({ rows: [] as { info: FillInfo }[] }));
    return rows[0]?.info ?? null;
  });
}

/** A fingerprint of the schema the database is filled with (whole-line comments left out). */
async function schemaFingerprint(): Promise<string> {
  const migrations = (await readMigrations(SQL_MIGRATIONS)).map((m) => m.sql).join("\n");
  const text = (migrations + (await Deno.readTextFile(SQL_ROLES)))
    .split("\n").filter((line) => !/^\s*--/.test(line)).join("\n");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fill(): Promise<FillInfo> {
  const url = `${SERVER}/${DATABASE}`;
  const schema = await schemaFingerprint();
  if (!flags.fresh) {
    const info = await readFillInfo(url).catch(() => null);
    if (
      info !== null && info.schema === schema && info.customers === customers && info.hours === hours &&
      (flags.end === "now" || info.end === DATA_END)
    ) {
      console.log(`reusing ${DATABASE} (${num(info.readings)} readings; --fresh refills it)`);
      return info;
    }
  }
  const began = performance.now();
  await dropDatabase(url);
  await ensureDatabase(url);
  const seconds = hours * 3600;
  console.log(`filling ${DATABASE}: ${customers} customers x ${hours} h = ${num(customers * seconds)} readings ...`);
  await migrateDatabase(url, {}, { migrations: SQL_MIGRATIONS });
  await withClient(url, async (client) => {
    await client.query("CREATE TABLE bench_fill (complete boolean NOT NULL, info jsonb NOT NULL)");
    // the primary key, BRIN and partial indexes are built once at the end (faster than row by row);
    // the rollups, which the consumer's batch statement keeps, are rebuilt from the readings after
    const { rows: indexes } = await client.query<{ name: string; def: string; constraint: string | null }>(
      `SELECT i.indexrelid::regclass::text AS name, c.conname AS constraint,
              CASE WHEN c.oid IS NULL THEN pg_get_indexdef(i.indexrelid) ELSE pg_get_constraintdef(c.oid) END AS def
       FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
       WHERE i.indrelid = 'readings'::regclass`,
    );
    for (const index of indexes) {
      await client.query(
        index.constraint === null
          ? `DROP INDEX ${index.name}`
          : `ALTER TABLE readings DROP CONSTRAINT ${quoteIdent(index.constraint)}`,
      );
    }
    const { setup, hourly, after } = fillStatements(customers, seconds, FILL_END);
    for (const sql of setup) await client.query(sql);
    // every day of the fill gets its partitions first (the maintenance step, as of each day), so no
    // reading waits in a default partition
    const first = Date.parse(FILL_END) - seconds * 1000;
    for (let day = first; day <= Date.parse(FILL_END) + 86_400_000; day += 86_400_000) {
      await client.query("SELECT count(*) FROM heartbeat_maintain($1)", [new Date(day).toISOString()]);
    }
    for (let h = 0; h < hours; h++) {
      const t0 = performance.now();
      await client.query(hourly(h));
      console.log(`  hour ${h + 1}/${hours}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    for (const sql of after) await client.query(sql);
    await client.query("SELECT heartbeat_rollups_rebuild($1, $2)", [new Date(first).toISOString(), FILL_END]);
    // what a consumer's maintenance would do by now: rollup days past their retention dropped
    await client.query("SELECT count(*) FROM heartbeat_maintain()");
    for (const index of indexes) {
      await client.query(
        index.constraint === null
          // the definition of a partitioned table's index says ON ONLY: made so, the partitions would get none
          ? index.def.replace(/ ON ONLY /, " ON ")
          : `ALTER TABLE readings ADD CONSTRAINT ${quoteIdent(index.constraint)} ${index.def}`,
      );
    }
    await client.query(await Deno.readTextFile(SQL_ROLES));
    await client.query("VACUUM ANALYZE");
  });
  const info = await withClient(url, async (client) => {
    const { rows: [counts] } = await client.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM readings) AS readings, (SELECT count(*) FROM dead_letters) AS dead_letters,
              (SELECT count(*) FROM alerts) AS alerts, (SELECT count(*) FROM alerts WHERE closed_at IS NULL) AS open,
              (SELECT count(*) FROM readings_5s) AS rollup`,
    );
    const { rows: sizes } = await client.query<{ name: string; size: string }>(
      `SELECT c.relname AS name, pg_size_pretty(pg_total_relation_size(c.oid)) AS size
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i') ORDER BY pg_total_relation_size(c.oid) DESC`,
    );
    const info: FillInfo = {
      schema,
      customers,
      hours,
      end: FILL_END,
      readings: Number(counts?.readings),
      deadLetters: Number(counts?.dead_letters),
      alerts: Number(counts?.alerts),
      openAlerts: Number(counts?.open),
      rollupRows: Number(counts?.rollup),
      sizes: Object.fromEntries(sizes.map((s) => [s.name, s.size])),
      fillSeconds: Math.round((performance.now() - began) / 1000),
    };
    await client.query("INSERT INTO bench_fill VALUES (true, $1)", [JSON.stringify(info)]);
    return info;
  });
  console.log(`filled in ${info.fillSeconds} s`);
  return info;
}

// ---------------------------------------------------------------------------------------------
// 2. the queries

/** One query's figures over one range. */
interface QueryResult {
  name: string;
  visualization: string;
  range: string;
  intervalMs: number;
  rows: number;
  /** Median wall time, all rows fetched by node-postgres, ms. */
  wallMs: number;
  /** 95th percentile of the wall times, ms. */
  wallP95Ms: number;
  /** Median server execution time, `EXPLAIN (ANALYZE, TIMING OFF)`, ms. */
  dbMs: number;
  wallRunsMs: number[];
  sql: string;
}

async function timeQueries(): Promise<QueryResult[]> {
  const queries = dashboardQueries(await loadDashboard());
  const results: QueryResult[] = [];
  await withClient(`${READER}/${DATABASE}`, async (client) => {
    const { rows: [row] } = await client.query<{ ms: number }>(
      "SELECT (extract(epoch FROM max(recorded_at)) * 1000)::float8 AS ms FROM readings",
    );
    const to = Math.ceil((row?.ms ?? Date.parse(FILL_END)) / 1000) * 1000;
    for (const [label, span] of RANGES) {
      const range = { from: to - span, to };
      const variable = queries.find((q) => q.source === "variable");
      const all = variable === undefined
        ? []
        : (await client.query({ text: expandQuery(variable, range).sql, rowMode: "array" }))
          .rows.map((r: unknown[]) => String(r[0]));
      for (const query of queries) results.push(await timeQuery(client, query, label, range, all));
    }
  });
  return results;
}

async function timeQuery(
  client: pg.Client,
  query: DashboardQuery,
  label: string,
  range: { from: number; to: number },
  customerIds: string[],
): Promise<QueryResult> {
  const { sql, intervalMs } = expandQuery(query, range, {
    customer: { value: customerIds, multi: true, includeAll: true },
  });
  let rows = (await client.query({ text: sql, rowMode: "array" })).rows.length; // warm-up
  const wall: number[] = [], db: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    rows = (await client.query({ text: sql, rowMode: "array" })).rows.length;
    wall.push(performance.now() - t0);
    const { rows: [plan] } = await client.query<{ "QUERY PLAN": { "Execution Time": number }[] }>(
      `EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${sql}`,
    );
    db.push(plan?.["QUERY PLAN"][0]?.["Execution Time"] ?? NaN);
  }
  const result = {
    name: query.name,
    visualization: query.visualization,
    range: label,
    intervalMs,
    rows,
    wallMs: median(wall),
    wallP95Ms: quantile(wall, 0.95),
    dbMs: median(db),
    wallRunsMs: wall.map((w) => Math.round(w * 10) / 10),
    sql,
  };
  console.log(
    `  ${label} ${query.name}: ${result.wallMs.toFixed(1)} ms (db ${result.dbMs.toFixed(1)} ms), ${rows} rows`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------
// 3. the ingest cost

/** The schema variants: before the dashboard's additions, with each, with all. */
async function schemaVariants(): Promise<Record<string, string>> {
  const full = await Deno.readTextFile(BASELINE_URL);
  const marker = full.indexOf("-- For the Grafana dashboard");
  if (marker < 0) throw new Error("001_baseline.sql has no '-- For the Grafana dashboard' section");
  const base = full.slice(0, full.lastIndexOf("\n", marker));
  const statement = (re: RegExp) => {
    const found = re.exec(full)?.[0];
    if (found === undefined) throw new Error(`001_baseline.sql has no statement matching ${re}`);
    return found;
  };
  const anomalous = statement(/CREATE INDEX IF NOT EXISTS readings_anomalous_idx[^;]*;/);
  const rollup = full.slice(full.indexOf("CREATE OR REPLACE FUNCTION ingest_delay_bounds"));
  return {
    "schema before the dashboard": base,
    "+ readings_anomalous_idx": `${base}\n${anomalous}`,
    "+ readings_5s rollup trigger": `${base}\n${rollup}`,
    "001_baseline.sql (all of it)": full,
  };
}

/** Readings like a live fleet's: 1,000 customers reading once a second, 7 % anomalous. */
function ingestBatches(total: number, batchSize: number): StoredReading[][] {
  const fleet = 1000, start = Date.parse("2026-11-20T00:00:00Z");
  const batches: StoredReading[][] = [];
  for (let b = 0; b * batchSize < total; b++) {
    const batch: StoredReading[] = [];
    for (let i = b * batchSize; i < Math.min(total, (b + 1) * batchSize); i++) {
      const atMs = start + Math.floor(i / fleet) * 1000 + (i % fleet);
      const heartRate = 58 + ((i * 7919) % 47); // 58-104: about 7 % outside 60-100
      const category: Category = heartRate < 60 ? "bradycardia" : heartRate > 100 ? "tachycardia" : "normal";
      batch.push({
        customerId: `CUST-${String(i % fleet).padStart(4, "0")}`,
        recordedAt: new Date(atMs).toISOString(),
        recordedAtMs: atMs,
        heartRate,
        isAnomaly: category !== "normal",
        category,
        reportedAnomaly: category !== "normal",
        readingId: crypto.randomUUID(),
        partition: i % 6,
        offset: String(i),
      });
    }
    batches.push(batch);
  }
  return batches;
}

/** One variant's figures. */
interface IngestResult {
  variant: string;
  readingsPerSecond: number;
  runs: number[];
  costPercent: number;
}

async function ingestCost(): Promise<IngestResult[]> {
  const variants = await schemaVariants();
  const batches = ingestBatches(ingestReadings, 5_000);
  const rates = new Map<string, number[]>();
  console.log(`ingest cost: ${num(ingestReadings)} readings in batches of 5,000, ${ingestRounds} rounds`);
  for (let round = 0; round < ingestRounds; round++) {
    // each round runs the variants in a different order, so that drift of the machine spreads evenly
    const names = Object.keys(variants);
    const order = names.map((_, i) => names[(i + round) % names.length]!);
    for (const name of order) {
      const url = `${SERVER}/heartbeat_bench_ingest`;
      await dropDatabase(url);
      await ensureDatabase(url);
      const repository = Repository.connect(url);
      try {
        await repository.applySchema(variants[name]!);
        await repository.applySchema("CHECKPOINT");
        const t0 = performance.now();
        for (const batch of batches) await repository.writeBatch(batch, []);
        const rate = ingestReadings / ((performance.now() - t0) / 1000);
        rates.set(name, [...(rates.get(name) ?? []), rate]);
        console.log(`  round ${round + 1} ${name}: ${num(rate)} readings/s`);
      } finally {
        await repository.close();
        await dropDatabase(url);
      }
    }
  }
  const baseRate = median(rates.get(Object.keys(variants)[0]!) ?? []);
  return [...rates].map(([variant, runs]) => ({
    variant,
    readingsPerSecond: Math.round(median(runs)),
    runs: runs.map(Math.round),
    costPercent: Math.round((1 - median(runs) / baseRate) * 1000) / 10,
  }));
}

// ---------------------------------------------------------------------------------------------

if (import.meta.main) {
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg();
  const postgres = await withClient(`${SERVER}/postgres`, async (c) => (await c.query("SHOW server_version")).rows[0]);
  const data = await fill();
  const queries = flags["skip-queries"] ? [] : await timeQueries();
  const ingest = flags["ingest-cost"] ? await ingestCost() : null;
  const loadAfter = loadavg();

  if (queries.length > 0) {
    const names = [...new Set(queries.map((q) => q.name))];
    const cell = (name: string, range: string, key: "wallMs" | "wallP95Ms" | "dbMs") => {
      const q = queries.find((r) => r.name === name && r.range === range);
      return q === undefined ? "" : num(q[key], 1);
    };
    console.log(
      `\nquery times on ${
        num(data.readings)
      } readings ending ${data.end}, ${runs} runs: wall median and p95 (rows fetched), server median (ms)`,
    );
    console.log(table(
      ["query", ...RANGES.flatMap(([r]) => [`${r} p50`, `${r} p95`, `${r} db`, "rows"])],
      names.map((n) => [
        n,
        ...RANGES.flatMap(([r]) => [
          cell(n, r, "wallMs"),
          cell(n, r, "wallP95Ms"),
          cell(n, r, "dbMs"),
          String(queries.find((q) => q.name === n && q.range === r)?.rows ?? ""),
        ]),
      ]),
    ));
    const slow = queries.filter((q) => q.range !== "15m" && q.wallP95Ms > 300);
    if (RANGES.length > 2 || RANGES.some(([r]) => r !== "15m" && r !== "24h")) {
      console.log(
        slow.length === 0
          ? "every query of every range within 300 ms at p95"
          : `over 300 ms at p95: ${slow.map((q) => `${q.name} (${q.range})`).join(", ")}`,
      );
    }
    const over = queries.filter((q) => q.range === "15m" && q.wallMs > TARGET_MS);
    console.log(
      over.length === 0
        ? `every query of the default range within ${TARGET_MS} ms`
        : `over ${TARGET_MS} ms at the default range: ${over.map((q) => q.name).join(", ")}`,
    );
  }
  if (ingest !== null) {
    console.log(`\ningest cost (the consumer's writeBatch, fresh tables)`);
    console.log(table(
      ["schema", "readings/s", "cost"],
      ingest.map((r) => [r.variant, num(r.readingsPerSecond), `${r.costPercent.toFixed(1)} %`]),
    ));
  }
  console.log(
    `load average: ${loadBefore.join(" ")} before, ${
      loadAfter.join(" ")
    } after (${navigator.hardwareConcurrency} CPUs)`,
  );

  const previous = await Deno.readTextFile(RESULTS_URL).then(JSON.parse).catch(() => ({}));
  const results = {
    when: startedAt,
    command: `deno task bench:dashboard ${Deno.args.join(" ")}`.trim(),
    machine: {
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      postgres: postgres?.server_version,
      loadBefore,
      loadAfter,
    },
    data,
    targetMs: { defaultRange: TARGET_MS },
    runs,
    queries: queries.length > 0 ? queries : previous.queries ?? [],
    ingestCost: ingest ?? previous.ingestCost ?? null,
  };
  // bench/results/ is not in git: a fresh clone has no such folder
  await Deno.mkdir(new URL(".", RESULTS_URL), { recursive: true });
  const json = JSON.stringify(results, null, 2) + "\n";
  await Deno.writeTextFile(RESULTS_URL, json);
  console.log(`wrote ${RESULTS_URL.pathname}`);
  if (flags.compare) {
    console.log("");
    await printComparison([{ file: "bench/results/dashboard-latest.json", json: JSON.parse(json) }]);
  }
}
