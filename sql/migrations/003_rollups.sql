-- Rollups for long ranges: readings_1m and readings_1h beside readings_5s, the same columns, and
-- all three kept in step by the consumer's own batch statement (lib/storage/repository.ts:
-- one INSERT ... RETURNING feeding the three upserts, in the batch's transaction) instead of the
-- statement trigger of 001, which re-planned its dynamic SQL for every batch. What it costs the
-- sink against the trigger is measured by bench/insert_variants.ts (docs/performance.md).
--
-- Only the consumer writes readings. A row written by anyone else (psql, a restore) reaches no
-- rollup: rebuild them with SELECT heartbeat_rollups_rebuild(from, to) (below).

DROP TRIGGER IF EXISTS readings_5s_add ON readings;

-- Monthly partitions too: heartbeat_partition_of learns the month.
ALTER TABLE heartbeat_partitions DROP CONSTRAINT heartbeat_partitions_step_check;
ALTER TABLE heartbeat_partitions ADD CONSTRAINT heartbeat_partitions_step_check CHECK (step IN ('1 day', '1 mon'));

CREATE OR REPLACE FUNCTION heartbeat_partition_of(parent text, step interval, at timestamptz,
                                                  OUT name text, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT parent || '_p' || to_char(date_trunc(CASE WHEN step = '1 mon' THEN 'month' ELSE 'day' END, at, 'UTC')
                                   AT TIME ZONE 'UTC', 'YYYYMMDD'),
         date_trunc(CASE WHEN step = '1 mon' THEN 'month' ELSE 'day' END, at, 'UTC'),
         date_trunc(CASE WHEN step = '1 mon' THEN 'month' ELSE 'day' END, at, 'UTC') + step;
END;

CREATE TABLE readings_1m (LIKE readings_5s INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (customer_id, bucket))
  PARTITION BY RANGE (bucket);
CREATE TABLE readings_1m_default PARTITION OF readings_1m DEFAULT;
CREATE TABLE readings_1h (LIKE readings_5s INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (customer_id, bucket))
  PARTITION BY RANGE (bucket);
CREATE TABLE readings_1h_default PARTITION OF readings_1h DEFAULT;

-- The coarser rollups from the 5-second one (exact: every column adds up, min and max compose).
CREATE FUNCTION heartbeat_rollup_from_5s_sql(target text, width interval) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN format($sql$
INSERT INTO %1$I AS r
SELECT customer_id, date_bin(%2$L, bucket, timestamptz '1970-01-01 00:00:00+00'), sum(readings), sum(anomalies),
       sum(hr_sum), min(hr_min), max(hr_max), sum(critical_low), sum(bradycardia), sum(tachycardia),
       sum(critical_high), sum(delay_sum), max(delay_max), sum(delay_lt_50ms), sum(delay_lt_100ms),
       sum(delay_lt_250ms), sum(delay_lt_500ms), sum(delay_lt_1s), sum(delay_lt_2_5s), sum(delay_lt_5s),
       sum(delay_lt_10s), sum(delay_lt_30s), sum(delay_lt_1m), sum(delay_lt_5m), sum(delay_lt_1h), sum(delay_ge_1h)
FROM readings_5s
WHERE bucket >= $1 AND bucket < $2
GROUP BY 1, 2
$sql$, target, width);

-- Rebuilds readings_5s, readings_1m and readings_1h for [from, to) from readings (whole hours:
-- the bounds are widened to them). For rows written around the consumer, or after a restore.
CREATE FUNCTION heartbeat_rollups_rebuild(from_at timestamptz, to_at timestamptz) RETURNS bigint
LANGUAGE plpgsql SET search_path = public, pg_temp
AS $$
DECLARE
  lo timestamptz := date_bin('1 hour', from_at, timestamptz '1970-01-01 00:00:00+00');
  hi timestamptz := date_bin('1 hour', to_at - interval '1 microsecond', timestamptz '1970-01-01 00:00:00+00')
                    + interval '1 hour';
  n bigint;
BEGIN
  LOCK TABLE readings IN SHARE MODE; -- no batch commits meanwhile
  DELETE FROM readings_5s WHERE bucket >= lo AND bucket < hi;
  DELETE FROM readings_1m WHERE bucket >= lo AND bucket < hi;
  DELETE FROM readings_1h WHERE bucket >= lo AND bucket < hi;
  CREATE TEMP TABLE rebuild_source ON COMMIT DROP AS
    SELECT * FROM readings WHERE recorded_at >= lo AND recorded_at < hi;
  EXECUTE readings_5s_merge_sql('rebuild_source');
  GET DIAGNOSTICS n = ROW_COUNT;
  EXECUTE heartbeat_rollup_from_5s_sql('readings_1m', '1 minute') USING lo, hi;
  EXECUTE heartbeat_rollup_from_5s_sql('readings_1h', '1 hour') USING lo, hi;
  RETURN n;
END
$$;
REVOKE ALL ON FUNCTION heartbeat_rollups_rebuild(timestamptz, timestamptz) FROM PUBLIC;

-- An upgraded database's 5-second rollup gives the coarser ones their history.
DO $$
DECLARE
  first timestamptz;
  last timestamptz;
BEGIN
  SELECT min(bucket), max(bucket) INTO first, last FROM readings_5s;
  IF first IS NOT NULL THEN
    EXECUTE heartbeat_rollup_from_5s_sql('readings_1m', '1 minute') USING first, last + interval '5 seconds';
    EXECUTE heartbeat_rollup_from_5s_sql('readings_1h', '1 hour') USING first, last + interval '5 seconds';
  END IF;
END
$$;

-- The 1-minute rollup is kept a year, in monthly partitions; the hourly one for ever. (The 5-second
-- one keeps its 30 days until the dashboard reads the coarser ones for long ranges.)
INSERT INTO heartbeat_partitions (parent, key_column, step, premake, retention) VALUES
  ('readings_1m', 'bucket', '1 mon', 2, '1 year'),
  ('readings_1h', 'bucket', '1 mon', 2, NULL);

SELECT count(*) FROM heartbeat_maintain();
