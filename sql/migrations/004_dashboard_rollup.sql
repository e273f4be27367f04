-- The dashboard reads its rollups through readings_rollup(from, to, interval_ms), which picks the
-- coarsest of readings_5s, readings_1m and readings_1h whose bucket is no wider than the panel's
-- interval and than a sixtieth of its range (so a stat over the range is off by at most a bucket
-- at each end, under 2 %), and never one whose retention window no longer covers `from`. An inline
-- SQL function: the planner sees three branches whose conditions are constants, runs one, and
-- pushes the panel's customer filter into it. With that, the 5-second rollup needs to serve only
-- the last week.

-- Which rollup serves a range: 5 (seconds), 60 or 3600.
CREATE FUNCTION readings_rollup_width(from_at timestamptz, to_at timestamptz, interval_ms double precision)
RETURNS integer
LANGUAGE sql STABLE
RETURN CASE
  WHEN least(interval_ms, extract(epoch FROM to_at - from_at) * 1000 / 60) >= 3600000
       OR from_at < coalesce(now() - (SELECT retention FROM heartbeat_partitions WHERE parent = 'readings_1m'),
                             '-infinity') THEN 3600
  WHEN least(interval_ms, extract(epoch FROM to_at - from_at) * 1000 / 60) >= 60000
       OR from_at < coalesce(now() - (SELECT retention FROM heartbeat_partitions WHERE parent = 'readings_5s'),
                             '-infinity') THEN 60
  ELSE 5
END;

CREATE FUNCTION readings_rollup(from_at timestamptz, to_at timestamptz, interval_ms double precision)
RETURNS SETOF readings_5s
LANGUAGE sql STABLE
AS $$
  SELECT * FROM readings_5s
  WHERE bucket BETWEEN from_at AND to_at AND readings_rollup_width(from_at, to_at, interval_ms) = 5
  UNION ALL
  SELECT * FROM readings_1m
  WHERE bucket BETWEEN from_at AND to_at AND readings_rollup_width(from_at, to_at, interval_ms) = 60
  UNION ALL
  SELECT * FROM readings_1h
  WHERE bucket BETWEEN from_at AND to_at AND readings_rollup_width(from_at, to_at, interval_ms) = 3600
$$;

UPDATE heartbeat_partitions SET retention = '7 days' WHERE parent = 'readings_5s';
