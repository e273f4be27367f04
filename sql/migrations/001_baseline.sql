-- The heartbeat pipeline's schema. Idempotent: safe to apply again (deno task db:migrate does).
-- Applied by docker-compose (initdb) and by `deno task db:migrate` on machines without Docker.

-- Valid readings. One row per (customer, instant): a redelivered or re-sent reading hits the
-- primary key and is skipped (INSERT ... ON CONFLICT DO NOTHING), so nothing is stored twice.
CREATE TABLE IF NOT EXISTS readings (
  customer_id      text             NOT NULL,
  recorded_at      timestamptz      NOT NULL,
  heart_rate       double precision NOT NULL CHECK (heart_rate >= 0),
  is_anomaly       boolean          NOT NULL,            -- computed by the consumer: < 60 or > 100 bpm
  category         text             NOT NULL,            -- critical_low < 40 <= bradycardia < 60 <= normal
                                                         -- <= 100 < tachycardia <= 150 < critical_high
  reported_anomaly boolean,                             -- the producer's own is_anomaly, as sent
  reading_id       uuid,                                -- the producer's reading_id, when sent
  kafka_partition  integer          NOT NULL,           -- where the reading was read from
  kafka_offset     bigint           NOT NULL,
  ingested_at      timestamptz      NOT NULL DEFAULT now(), -- when its transaction stored it
  PRIMARY KEY (customer_id, recorded_at)
);

-- Dashboards filter on time across all customers; rows arrive in time order, so a BRIN index is
-- tiny and serves those range scans.
CREATE INDEX IF NOT EXISTS readings_recorded_at_brin ON readings USING brin (recorded_at);

-- The dead-letter store: every rejected message with its raw bytes and every reason.
-- One row per Kafka record: (topic, partition, offset) makes redelivery a no-op.
CREATE TABLE IF NOT EXISTS dead_letters (
  topic            text        NOT NULL,
  kafka_partition  integer     NOT NULL,
  kafka_offset     bigint      NOT NULL,
  kafka_key        bytea,                       -- null for unkeyed messages
  kafka_timestamp  timestamptz,                 -- the record's timestamp in Kafka
  payload          bytea,                       -- the raw value, byte for byte (null for tombstones)
  payload_bytes    integer     NOT NULL,
  reason           text        NOT NULL,        -- the first reason's code, for grouping
  reasons          jsonb       NOT NULL,        -- every reason: [{"code","field","detail"}]
  rejected_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, kafka_partition, kafka_offset)
);

CREATE INDEX IF NOT EXISTS dead_letters_rejected_at_idx ON dead_letters (rejected_at);

-- Sustained episodes (alerts) found by the consumer. An alert's identity is the customer, the kind
-- and the timestamp of its first abnormal reading: detection is a pure function of the reading
-- sequence, so a redelivered batch upserts the same rows instead of opening an episode twice.
CREATE TABLE IF NOT EXISTS alerts (
  customer_id    text             NOT NULL,
  kind           text             NOT NULL CHECK (kind IN ('bradycardia', 'tachycardia')),
  started_at     timestamptz      NOT NULL,            -- first abnormal reading
  opened_at      timestamptz      NOT NULL,            -- the reading that made it an episode
  last_at        timestamptz      NOT NULL,            -- latest abnormal reading so far
  ended_at       timestamptz,                          -- last abnormal reading once ended; null while open
  closed_at      timestamptz,                          -- the reading that ended it; null while open
  peak           double precision NOT NULL,            -- lowest (bradycardia) or highest (tachycardia) bpm
  reading_count  integer          NOT NULL,            -- abnormal readings in it
  severity       text             NOT NULL CHECK (severity IN ('warning', 'critical')),
  detected_at    timestamptz      NOT NULL DEFAULT now(), -- when the consumer stored it first
  updated_at     timestamptz      NOT NULL DEFAULT now(),
  PRIMARY KEY (customer_id, kind, started_at)
);

CREATE INDEX IF NOT EXISTS alerts_open_idx ON alerts (customer_id) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS alerts_started_at_idx ON alerts (started_at);

-- ---------------------------------------------------------------------------------------------
-- For the Grafana dashboard (docs/dashboard.md, grafana/dashboards/heartbeat-monitor.json). The
-- figures are from `deno task bench:dashboard` on 10 million readings, the ingest costs from its
-- `--ingest-cost` (the consumer's writeBatch, batches of 5,000).

-- "Recent anomalous readings" wants the newest anomalous readings of a time range: without an index
-- a scan of every reading in the range (80 ms for 15 minutes, 750 ms for 24 hours), with it 2 ms.
-- It holds only the anomalous readings (a few percent), so its ingest cost is within the noise.
CREATE INDEX IF NOT EXISTS readings_anomalous_idx ON readings (recorded_at) WHERE is_anomaly;

-- The episodes table and annotations select alerts by their latest abnormal reading.
CREATE INDEX IF NOT EXISTS alerts_last_at_idx ON alerts (last_at);

-- readings_5s: the readings summed per customer and 5-second bucket of recorded_at, which the
-- dashboard's time-range panels read instead of the readings (one row for every five readings of a
-- customer reading once a second). A statement-level trigger folds each INSERT's new rows in, so
-- the rollup is exact and always current: rows skipped by ON CONFLICT DO NOTHING (redeliveries)
-- are not in the transition table and are not counted twice. 5 seconds, because every interval
-- Grafana picks from 5 s up (5s, 10s, 15s, 20s, 30s, 1m, 2m, 5m, ...) is a whole number of them.
-- Deleting readings does not touch it: a retention job must delete the same buckets.
-- Cost: about a quarter of the database write path (106,900 -> 80,100 readings/s on 2026-11-26;
-- 13-25 % over three runs on 2026-11-25); gain (2026-11-25): every time-range panel within 100 ms
-- for 15 minutes (2-10x faster) and 4-22x faster for 24 hours. docs/dashboard.md has the runs.

-- Upper bounds (seconds) of the ingest-delay histogram: the delay_lt_* columns of readings_5s count
-- the readings whose ingested_at - recorded_at is below their bound and not below the previous one;
-- delay_ge_1h counts the rest. Backfills land in the top buckets.
CREATE OR REPLACE FUNCTION ingest_delay_bounds() RETURNS double precision[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN '{0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,300,3600}'::double precision[];

-- The q-quantile of an ingest-delay histogram (the 13 bucket counts, summed over rows, in order),
-- interpolating linearly inside the bucket it falls in; the top bucket ends at the largest delay
-- seen (top). Null when the histogram is empty.
CREATE OR REPLACE FUNCTION ingest_delay_quantile(q double precision, counts bigint[], top double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
  SELECT lo + (hi - lo) * (q * total - (upto - n)) / n
  FROM (
    SELECT n, upto, total, least(coalesce(bounds[i - 1], 0), hi) AS lo, hi
    FROM (
      SELECT n, i, sum(n) OVER (ORDER BY i) AS upto, sum(n) OVER () AS total, ingest_delay_bounds() AS bounds,
             least(coalesce((ingest_delay_bounds())[i], top), top) AS hi
      FROM unnest(counts) WITH ORDINALITY AS u(n, i)
    ) c
  ) b
  WHERE n > 0 AND upto >= q * total
  ORDER BY upto
  LIMIT 1
);

-- The statement that folds the readings of `source` (the trigger's transition table, or readings
-- itself for the first fill) into readings_5s, in primary-key order so that two concurrent
-- consumers lock rollup rows in the same order and cannot deadlock.
CREATE OR REPLACE FUNCTION readings_5s_merge_sql(source text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($sql$
INSERT INTO readings_5s AS r (customer_id, bucket, readings, anomalies, hr_sum, hr_min, hr_max, critical_low,
                              bradycardia, tachycardia, critical_high, delay_sum, delay_max,
                              delay_lt_50ms, delay_lt_100ms, delay_lt_250ms, delay_lt_500ms, delay_lt_1s,
                              delay_lt_2_5s, delay_lt_5s, delay_lt_10s, delay_lt_30s, delay_lt_1m, delay_lt_5m,
                              delay_lt_1h, delay_ge_1h)
SELECT customer_id, bucket, count(*), count(*) FILTER (WHERE is_anomaly), sum(heart_rate), min(heart_rate),
       max(heart_rate), count(*) FILTER (WHERE category = 'critical_low'),
       count(*) FILTER (WHERE category = 'bradycardia'), count(*) FILTER (WHERE category = 'tachycardia'),
       count(*) FILTER (WHERE category = 'critical_high'), sum(delay), max(delay),
       count(*) FILTER (WHERE w = 0), count(*) FILTER (WHERE w = 1), count(*) FILTER (WHERE w = 2),
       count(*) FILTER (WHERE w = 3), count(*) FILTER (WHERE w = 4), count(*) FILTER (WHERE w = 5),
       count(*) FILTER (WHERE w = 6), count(*) FILTER (WHERE w = 7), count(*) FILTER (WHERE w = 8),
       count(*) FILTER (WHERE w = 9), count(*) FILTER (WHERE w = 10), count(*) FILTER (WHERE w = 11),
       count(*) FILTER (WHERE w = 12)
FROM (
  SELECT customer_id, date_bin('5 seconds', recorded_at, timestamptz '1970-01-01 00:00:00+00') AS bucket,
         heart_rate, is_anomaly, category, d.delay, width_bucket(d.delay, ingest_delay_bounds()) AS w
  FROM %I CROSS JOIN LATERAL (SELECT date_part('epoch', ingested_at - recorded_at) AS delay) d
) x
GROUP BY customer_id, bucket
ORDER BY customer_id, bucket
ON CONFLICT (customer_id, bucket) DO UPDATE SET
  readings = r.readings + EXCLUDED.readings,
  anomalies = r.anomalies + EXCLUDED.anomalies,
  hr_sum = r.hr_sum + EXCLUDED.hr_sum,
  hr_min = least(r.hr_min, EXCLUDED.hr_min),
  hr_max = greatest(r.hr_max, EXCLUDED.hr_max),
  critical_low = r.critical_low + EXCLUDED.critical_low,
  bradycardia = r.bradycardia + EXCLUDED.bradycardia,
  tachycardia = r.tachycardia + EXCLUDED.tachycardia,
  critical_high = r.critical_high + EXCLUDED.critical_high,
  delay_sum = r.delay_sum + EXCLUDED.delay_sum,
  delay_max = greatest(r.delay_max, EXCLUDED.delay_max),
  delay_lt_50ms = r.delay_lt_50ms + EXCLUDED.delay_lt_50ms,
  delay_lt_100ms = r.delay_lt_100ms + EXCLUDED.delay_lt_100ms,
  delay_lt_250ms = r.delay_lt_250ms + EXCLUDED.delay_lt_250ms,
  delay_lt_500ms = r.delay_lt_500ms + EXCLUDED.delay_lt_500ms,
  delay_lt_1s = r.delay_lt_1s + EXCLUDED.delay_lt_1s,
  delay_lt_2_5s = r.delay_lt_2_5s + EXCLUDED.delay_lt_2_5s,
  delay_lt_5s = r.delay_lt_5s + EXCLUDED.delay_lt_5s,
  delay_lt_10s = r.delay_lt_10s + EXCLUDED.delay_lt_10s,
  delay_lt_30s = r.delay_lt_30s + EXCLUDED.delay_lt_30s,
  delay_lt_1m = r.delay_lt_1m + EXCLUDED.delay_lt_1m,
  delay_lt_5m = r.delay_lt_5m + EXCLUDED.delay_lt_5m,
  delay_lt_1h = r.delay_lt_1h + EXCLUDED.delay_lt_1h,
  delay_ge_1h = r.delay_ge_1h + EXCLUDED.delay_ge_1h
$sql$, source);

-- Created, and filled from the readings already stored, once: the lock keeps inserts out until the
-- trigger below exists (same transaction), so no reading is missed or counted twice.
DO $$
BEGIN
  IF to_regclass('readings_5s') IS NULL THEN
    LOCK TABLE readings IN SHARE ROW EXCLUSIVE MODE;
    CREATE TABLE readings_5s (
      customer_id    text             NOT NULL,
      bucket         timestamptz      NOT NULL,  -- start of the 5 s of recorded_at (aligned on the epoch)
      readings       integer          NOT NULL,
      anomalies      integer          NOT NULL,  -- of them is_anomaly
      hr_sum         double precision NOT NULL,  -- sum of heart_rate (average = hr_sum / readings)
      hr_min         double precision NOT NULL,
      hr_max         double precision NOT NULL,
      critical_low   integer          NOT NULL,  -- readings per category (normal: the rest)
      bradycardia    integer          NOT NULL,
      tachycardia    integer          NOT NULL,
      critical_high  integer          NOT NULL,
      delay_sum      double precision NOT NULL,  -- sum of ingested_at - recorded_at, seconds
      delay_max      double precision NOT NULL,
      -- the ingest-delay histogram, by ingest_delay_bounds(): columns, not an array, because the
      -- dashboard sums them over tens of thousands of rows (array subscripts cost 4x as much)
      delay_lt_50ms  integer          NOT NULL,
      delay_lt_100ms integer          NOT NULL,
      delay_lt_250ms integer          NOT NULL,
      delay_lt_500ms integer          NOT NULL,
      delay_lt_1s    integer          NOT NULL,
      delay_lt_2_5s  integer          NOT NULL,
      delay_lt_5s    integer          NOT NULL,
      delay_lt_10s   integer          NOT NULL,
      delay_lt_30s   integer          NOT NULL,
      delay_lt_1m    integer          NOT NULL,
      delay_lt_5m    integer          NOT NULL,
      delay_lt_1h    integer          NOT NULL,
      delay_ge_1h    integer          NOT NULL,
      PRIMARY KEY (customer_id, bucket)
    );
    EXECUTE readings_5s_merge_sql('readings');
  END IF;
END
$$;

-- SECURITY DEFINER: a role that may insert readings keeps the rollup current without privileges
-- of its own on readings_5s (the trigger runs as the owner of this schema).
CREATE OR REPLACE FUNCTION readings_5s_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
  EXECUTE readings_5s_merge_sql('new_readings');
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER readings_5s_add AFTER INSERT ON readings
  REFERENCING NEW TABLE AS new_readings
  FOR EACH STATEMENT EXECUTE FUNCTION readings_5s_add();
