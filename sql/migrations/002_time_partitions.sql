-- readings and its 5-second rollup become range-partitioned by time (daily partitions in UTC, and a
-- default partition for a row whose day has none), with the partitions made ahead of time and
-- dropped after their retention window by heartbeat_maintain(), which `deno task db:maintain`
-- and the consumer call (docs/decisions/0005: native partitioning, no extension).
--
-- Upgrading a database that holds data: the unpartitioned table is renamed `<table>_legacy` and
-- attached as ONE partition covering the days it holds (PostgreSQL scans it once to check the
-- range; nothing is copied). It is dropped like any partition once its last day is older than the
-- retention window. A fresh database's empty tables are simply replaced.
--
-- Keys: a unique key of a partitioned table must include its partition key, and both keep theirs
-- as they were, (customer_id, recorded_at) and (customer_id, bucket): a reading's recorded_at
-- decides its partition, so a redelivered reading meets its first copy there (or in the default
-- partition) and ON CONFLICT DO NOTHING skips it. A replay older than the retention window finds
-- its day dropped: it lands in the default partition, and heartbeat_maintain() deletes default
-- rows older than the window instead of making a partition for them.

-- What is partitioned, how, and for how long rows are kept (null: for ever). Edit with SQL
-- (UPDATE heartbeat_partitions SET retention = '90 days' WHERE parent = 'readings') or with
-- `deno task db:maintain --retention readings=90d`.
CREATE TABLE heartbeat_partitions (
  parent     text     PRIMARY KEY,
  key_column text     NOT NULL,                                          -- the partition key
  step       interval NOT NULL DEFAULT '1 day' CHECK (step = '1 day'),
  premake    integer  NOT NULL DEFAULT 7 CHECK (premake BETWEEN 1 AND 366),  -- days made ahead of now
  retention  interval CHECK (retention >= '2 days')                          -- never the day being written
);

-- The partition holding instant `at` of a table partitioned by `step`: its name and bounds.
CREATE FUNCTION heartbeat_partition_of(parent text, step interval, at timestamptz,
                                       OUT name text, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
  SELECT parent || '_p' || to_char(date_trunc('day', at, 'UTC') AT TIME ZONE 'UTC', 'YYYYMMDD'),
         date_trunc('day', at, 'UTC'),
         date_trunc('day', at, 'UTC') + step;
END;

-- The partitions of a table with their bounds (the default one: null bounds).
CREATE FUNCTION heartbeat_partition_list(parent text)
RETURNS TABLE (name text, lo timestamptz, hi timestamptz, is_default boolean)
LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT c.relname::text,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz,
         pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
  WHERE i.inhparent = parent::regclass
  ORDER BY 2 NULLS FIRST;
END;

-- 1. readings
DO $$
DECLARE
  has_rows boolean;
  first_day timestamptz;
  last_day timestamptz;
BEGIN
  -- the statement trigger of 001 moves to the partitioned table below
  DROP TRIGGER IF EXISTS readings_5s_add ON readings;
  ALTER TABLE readings RENAME TO readings_legacy;
  ALTER INDEX readings_pkey RENAME TO readings_legacy_pkey;
  ALTER INDEX readings_recorded_at_brin RENAME TO readings_legacy_recorded_at_brin;
  ALTER INDEX readings_anomalous_idx RENAME TO readings_legacy_anomalous_idx;

  CREATE TABLE readings (
    customer_id      text             NOT NULL,
    recorded_at      timestamptz      NOT NULL,
    -- the check's name is the old table's, which an attached partition must have
    heart_rate       double precision NOT NULL CONSTRAINT readings_heart_rate_check CHECK (heart_rate >= 0),
    is_anomaly       boolean          NOT NULL,
    category         text             NOT NULL,
    reported_anomaly boolean,
    reading_id       uuid,
    kafka_partition  integer          NOT NULL,
    kafka_offset     bigint           NOT NULL,
    ingested_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, recorded_at)
  ) PARTITION BY RANGE (recorded_at);
  CREATE INDEX readings_recorded_at_brin ON readings USING brin (recorded_at);
  CREATE INDEX readings_anomalous_idx ON readings (recorded_at) WHERE is_anomaly;
  CREATE TABLE readings_default PARTITION OF readings DEFAULT;

  SELECT EXISTS (SELECT FROM readings_legacy) INTO has_rows;
  IF has_rows THEN
    SELECT date_trunc('day', min(recorded_at), 'UTC'), date_trunc('day', max(recorded_at), 'UTC') + interval '1 day'
      INTO first_day, last_day FROM readings_legacy;
    -- the ingested_at default and the heart_rate check are the parent's; the table keeps its own too
    EXECUTE format('ALTER TABLE readings ATTACH PARTITION readings_legacy FOR VALUES FROM (%L) TO (%L)',
                   first_day, last_day);
  ELSE
    DROP TABLE readings_legacy;
  END IF;
END
$$;

-- 2. readings_5s, the same way
DO $$
DECLARE
  has_rows boolean;
  first_day timestamptz;
  last_day timestamptz;
BEGIN
  ALTER TABLE readings_5s RENAME TO readings_5s_legacy;
  ALTER INDEX readings_5s_pkey RENAME TO readings_5s_legacy_pkey;
  CREATE TABLE readings_5s (LIKE readings_5s_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                            PRIMARY KEY (customer_id, bucket))
    PARTITION BY RANGE (bucket);
  CREATE TABLE readings_5s_default PARTITION OF readings_5s DEFAULT;
  SELECT EXISTS (SELECT FROM readings_5s_legacy) INTO has_rows;
  IF has_rows THEN
    SELECT date_trunc('day', min(bucket), 'UTC'), date_trunc('day', max(bucket), 'UTC') + interval '1 day'
      INTO first_day, last_day FROM readings_5s_legacy;
    EXECUTE format('ALTER TABLE readings_5s ATTACH PARTITION readings_5s_legacy FOR VALUES FROM (%L) TO (%L)',
                   first_day, last_day);
  ELSE
    DROP TABLE readings_5s_legacy;
  END IF;
END
$$;

CREATE TRIGGER readings_5s_add AFTER INSERT ON readings
  REFERENCING NEW TABLE AS new_readings
  FOR EACH STATEMENT EXECUTE FUNCTION readings_5s_add();

INSERT INTO heartbeat_partitions (parent, key_column, retention) VALUES
  ('readings', 'recorded_at', '30 days'),
  ('readings_5s', 'bucket', '30 days');

-- The maintenance step: for each table of heartbeat_partitions, (1) rows in the default
-- partition go to a partition of their day, made for them, or are deleted when their day is
-- older than the retention window (a replay of dropped data; rows keyed 'infinity' stay where they
-- are, never dropped); (2) the partitions of yesterday,
-- today and `premake` days ahead exist; (3) partitions whose last instant is older than the
-- window are detached and dropped. Each step waits at most `lock_wait` for its lock and is
-- reported as `skipped` (to be retried by the next run) when it did not get it. With `dry_run`
-- nothing changes: the rows say what would be done. Idempotent; safe to run at any time, from
-- any number of processes (an advisory lock makes a second caller wait, then find nothing to do).
CREATE FUNCTION heartbeat_maintain(at timestamptz DEFAULT now(), dry_run boolean DEFAULT false,
                                   lock_wait interval DEFAULT '2 s')
RETURNS TABLE (action text, partition_name text, detail text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
  cfg heartbeat_partitions;
  p record;
  d record;
  target record;
  k integer;
  moved bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(7522525924148393314);
  PERFORM set_config('lock_timeout', (extract(epoch FROM lock_wait) * 1000)::bigint::text, true);
  FOR cfg IN SELECT * FROM heartbeat_partitions ORDER BY parent LOOP
    -- (1) the default partition's rows, partition by partition
    FOR d IN EXECUTE format(
      'SELECT (heartbeat_partition_of(%L, %L, %I)).lo AS day, count(*) AS n FROM %I WHERE isfinite(%I) '
      'GROUP BY 1 ORDER BY 1', cfg.parent, cfg.step, cfg.key_column, cfg.parent || '_default', cfg.key_column)
    LOOP
      target := heartbeat_partition_of(cfg.parent, cfg.step, d.day);
      IF cfg.retention IS NOT NULL AND target.hi <= at - cfg.retention THEN
        action := 'delete-default'; partition_name := cfg.parent || '_default';
        detail := format('%s rows of %s, older than the retention window (%s)', d.n, d.day::date, cfg.retention);
        IF NOT dry_run THEN
          BEGIN
            EXECUTE format('DELETE FROM %I WHERE %I >= %L AND %I < %L', partition_name,
                           cfg.key_column, target.lo,
                           cfg.key_column, target.hi);
          EXCEPTION WHEN lock_not_available THEN
            action := 'skipped'; detail := 'lock not granted within ' || lock_wait || ': ' || detail;
          END;
        END IF;
        RETURN NEXT;
        CONTINUE;
      END IF;
      action := 'move-default'; partition_name := target.name;
      detail := format('%s rows of %s out of %s', d.n, d.day::date, cfg.parent || '_default');
      IF NOT dry_run THEN
        BEGIN
          -- no insert may reach the default partition between the move and the attach (it would
          -- make the attach fail): the consumer's next batch waits for this subtransaction
          EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', cfg.parent || '_default');
          EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', target.name, cfg.parent);
          EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) '
                         'INSERT INTO %I SELECT * FROM moved', cfg.parent || '_default',
                         cfg.key_column, target.lo,
                         cfg.key_column, target.hi,
                         target.name);
          GET DIAGNOSTICS moved = ROW_COUNT;
          EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                         cfg.parent, target.name, target.lo, target.hi);
          detail := format('%s rows of %s moved out of %s', moved, d.day::date, cfg.parent || '_default');
        EXCEPTION
          WHEN lock_not_available THEN
            action := 'skipped'; detail := 'lock not granted within ' || lock_wait || ': ' || detail;
          WHEN duplicate_table THEN
            action := 'skipped';
            detail := format('a table %s exists and is not a partition of %s: attach or drop it', target.name, cfg.parent);
        END;
      END IF;
      RETURN NEXT;
    END LOOP;

    -- (2) yesterday, today and premake days ahead
    FOR k IN -1 .. cfg.premake LOOP
      target := heartbeat_partition_of(cfg.parent, cfg.step, at + k * cfg.step);
      CONTINUE WHEN EXISTS (
        SELECT FROM heartbeat_partition_list(cfg.parent) l
        WHERE NOT l.is_default AND l.lo < target.hi AND l.hi > target.lo);
      action := 'create'; partition_name := target.name;
      detail := format('%s to %s', target.lo, target.hi);
      IF NOT dry_run THEN
        BEGIN
          -- made apart, then attached: ATTACH takes a lighter lock on the parent than CREATE ... PARTITION OF
          EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', target.name, cfg.parent);
          EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                         cfg.parent, target.name, target.lo, target.hi);
        EXCEPTION
          WHEN lock_not_available THEN
            action := 'skipped'; detail := 'lock not granted within ' || lock_wait || ': ' || detail;
          WHEN check_violation THEN
            -- rows of that day reached the default partition after step (1): the next run moves them
            action := 'skipped'; detail := 'rows of that day wait in the default partition: ' || detail;
          WHEN duplicate_table THEN
            action := 'skipped';
            detail := format('a table %s exists and is not a partition of %s: attach or drop it', target.name, cfg.parent);
        END;
      END IF;
      RETURN NEXT;
    END LOOP;

    -- (3) retention: whole partitions whose last instant is older than the window
    CONTINUE WHEN cfg.retention IS NULL;
    FOR p IN SELECT * FROM heartbeat_partition_list(cfg.parent) l
             WHERE NOT l.is_default AND l.hi <= at - cfg.retention LOOP
      action := 'drop'; partition_name := p.name;
      detail := format('%s to %s, older than the retention window (%s)', p.lo, p.hi, cfg.retention);
      IF NOT dry_run THEN
        BEGIN
          EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', cfg.parent, p.name);
          EXECUTE format('DROP TABLE %I', p.name);
        EXCEPTION WHEN lock_not_available THEN
          action := 'skipped'; detail := 'lock not granted within ' || lock_wait || ': ' || detail;
        END;
      END IF;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION heartbeat_maintain(timestamptz, boolean, interval) FROM PUBLIC;

-- The partitions of today and the days ahead, now, so that a fresh database needs no other step
-- before the consumer writes (it runs heartbeat_maintain() at start and every hour as well).
SELECT count(*) FROM heartbeat_maintain();
