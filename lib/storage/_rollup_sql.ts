/**
 * The batch statement that stores readings and keeps the rollups in step (internal): one INSERT
 * into `readings` whose RETURNING rows (only those actually stored: a duplicate returns nothing)
 * are aggregated once into 5-second groups, which are upserted into `readings_5s` and, combined
 * further, into `readings_1m` and `readings_1h`, all in the batch's transaction; and the
 * dead-letter statement that keeps `dead_letters_1m` and `dead_letters_1h` the same way.
 *
 * @module
 */

/** How a rollup column is made from readings, combined from 5-second groups, and merged into a stored row. */
interface RollupColumn {
  name: string;
  /** From the inserted readings (`x` is one, with `delay` and its histogram bucket `w`). */
  fromReadings: string;
  /** From 5-second groups (`g`). */
  fromGroups: "sum" | "min" | "max";
}

const DELAYS = ["50ms", "100ms", "250ms", "500ms", "1s", "2_5s", "5s", "10s", "30s", "1m", "5m", "1h"];

/** The columns of readings_5s, readings_1m and readings_1h after (customer_id, bucket). */
export const ROLLUP_COLUMNS: readonly RollupColumn[] = [
  { name: "readings", fromReadings: "count(*)", fromGroups: "sum" },
  { name: "anomalies", fromReadings: "count(*) FILTER (WHERE x.is_anomaly)", fromGroups: "sum" },
  { name: "hr_sum", fromReadings: "sum(x.heart_rate)", fromGroups: "sum" },
  { name: "hr_min", fromReadings: "min(x.heart_rate)", fromGroups: "min" },
  { name: "hr_max", fromReadings: "max(x.heart_rate)", fromGroups: "max" },
  ...["critical_low", "bradycardia", "tachycardia", "critical_high"].map((c) => ({
    name: c,
    fromReadings: `count(*) FILTER (WHERE x.category = '${c}')`,
    fromGroups: "sum" as const,
  })),
  { name: "delay_sum", fromReadings: "sum(x.delay)", fromGroups: "sum" },
  { name: "delay_max", fromReadings: "max(x.delay)", fromGroups: "max" },
  ...DELAYS.map((d, i) => ({
    name: `delay_lt_${d}`,
    fromReadings: `count(*) FILTER (WHERE x.w = ${i})`,
    fromGroups: "sum" as const,
  })),
  { name: "delay_ge_1h", fromReadings: `count(*) FILTER (WHERE x.w = ${DELAYS.length})`, fromGroups: "sum" },
];

const merge = (c: RollupColumn) =>
  c.fromGroups === "sum"
    ? `${c.name} = r.${c.name} + EXCLUDED.${c.name}`
    : `${c.name} = ${c.fromGroups === "min" ? "least" : "greatest"}(r.${c.name}, EXCLUDED.${c.name})`;

const EPOCH = "timestamptz '1970-01-01 00:00:00+00'";

/** The upsert of the groups `source` into `table`, bucketed by `width` (from 5-second groups unless `width` is 5 s). */
function upsert(table: string, width: string | null): string {
  const names = ROLLUP_COLUMNS.map((c) => c.name).join(", ");
  const select = width === null
    ? `SELECT * FROM g5`
    : `SELECT customer_id, date_bin('${width}', bucket, ${EPOCH}), ${
      ROLLUP_COLUMNS.map((c) => `${c.fromGroups}(${c.name})`).join(", ")
    } FROM g5 GROUP BY 1, 2`;
  return `INSERT INTO ${table} AS r (customer_id, bucket, ${names})
  ${select}
  ON CONFLICT (customer_id, bucket) DO UPDATE SET ${ROLLUP_COLUMNS.map(merge).join(", ")}`;
}

/**
 * The statement: `readings`' columns and their unnest casts in, the count of rows stored out
 * (column `inserted`).
 */
export function insertReadingsSql(
  columns: readonly string[],
  casts: readonly string[],
  rollups: readonly ("5s" | "1m" | "1h")[] = ["5s", "1m", "1h"],
): string {
  const upserts = [
    rollups.includes("5s") ? `r5 AS (\n  ${upsert("readings_5s", null)}\n)` : "",
    rollups.includes("1m") ? `r1m AS (\n  ${upsert("readings_1m", "1 minute")}\n)` : "",
    rollups.includes("1h") ? `r1h AS (\n  ${upsert("readings_1h", "1 hour")}\n)` : "",
  ].filter((u) => u !== "");
  return `WITH ins AS (
  INSERT INTO readings (${columns.join(", ")})
  SELECT * FROM unnest(${casts.map((c, i) => `$${i + 1}::${c}[]`).join(", ")})
  ON CONFLICT DO NOTHING
  RETURNING customer_id, recorded_at, heart_rate, is_anomaly, category, ingested_at
), x AS (
  SELECT i.*, d.delay, width_bucket(d.delay, ingest_delay_bounds()) AS w
  FROM ins i CROSS JOIN LATERAL (SELECT date_part('epoch', i.ingested_at - i.recorded_at) AS delay) d
), g5 AS (
  SELECT x.customer_id, date_bin('5 seconds', x.recorded_at, ${EPOCH}) AS bucket,
         ${ROLLUP_COLUMNS.map((c) => `${c.fromReadings} AS ${c.name}`).join(", ")}
  FROM x GROUP BY 1, 2
)${upserts.map((u) => `, ${u}`).join("")}
SELECT count(*)::int AS inserted FROM ins`;
}

/**
 * Stores the dead letters and counts those actually stored (a redelivered one returns nothing) by
 * reason into the 1-minute rollup, and the hourly one from those minutes (migration 006), in the
 * same statement. Its
 * parameters: the dead letters' columns (`_columns.ts deadLetterColumns`); its row: `inserted`.
 */
export function insertDeadLettersSql(): string {
  return `
WITH ins AS (
  INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, kafka_key, kafka_timestamp,
                            payload, payload_bytes, reason, reasons, kafka_time)
  SELECT t, p, o, k, to_timestamp(ts / 1000.0), v, coalesce(length(v), 0), r, rs::jsonb,
         coalesce(to_timestamp(ts / 1000.0), 'infinity')  -- the partition key (migration 005)
  FROM unnest($1::text[], $2::int4[], $3::int8[], $4::bytea[], $5::float8[], $6::bytea[],
              $7::text[], $8::text[]) AS x(t, p, o, k, ts, v, r, rs)
  ON CONFLICT DO NOTHING
  RETURNING reason, rejected_at
), g1m AS (
  SELECT date_bin('1 minute', rejected_at, ${EPOCH}) AS bucket, reason, count(*) AS n FROM ins GROUP BY 1, 2
), r1m AS (
  INSERT INTO dead_letters_1m AS d SELECT bucket, reason, n FROM g1m
  ON CONFLICT (bucket, reason) DO UPDATE SET rejected = d.rejected + EXCLUDED.rejected
), r1h AS (
  INSERT INTO dead_letters_1h AS d
  SELECT date_bin('1 hour', bucket, ${EPOCH}), reason, sum(n) FROM g1m GROUP BY 1, 2
  ON CONFLICT (bucket, reason) DO UPDATE SET rejected = d.rejected + EXCLUDED.rejected
)
SELECT count(*)::int AS inserted FROM ins`;
}
