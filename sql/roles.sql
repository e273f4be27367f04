-- grafana_reader: the read-only role the Grafana dashboard connects as.
--
-- Applied by `deno task db:migrate` after the migrations (sql/migrations/), on every run, so the
-- grants cover the tables every migration made; and by docker-compose after sql/initdb.sql
-- (mounted as /docker-entrypoint-initdb.d/02-roles.sql, so only when the volume is first created).
-- By hand, as a superuser and after the migrations:
--
--   psql -h 127.0.0.1 -U postgres -d heartbeat -v ON_ERROR_STOP=1 -f sql/roles.sql
--
-- Idempotent: running it again changes nothing (and keeps a password you have since changed).
--
-- CHANGE THE PASSWORD outside a laptop. It is set only when the role is created; to change it:
--   ALTER ROLE grafana_reader PASSWORD 'something-long';
-- and give Grafana the same value (GRAFANA_READER_PASSWORD in docker-compose.yml).

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'grafana_reader') THEN
    CREATE ROLE grafana_reader LOGIN PASSWORD 'grafana_reader';
  END IF;
END
$$;

-- A dashboard only reads, and one runaway panel query must not hold a connection for long.
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';
-- Dashboard queries are short and run every 5 s: JIT compilation cost more than it saved (about
-- 120 ms of a 300 ms panel query on 10 million readings; docs/dashboard.md).
ALTER ROLE grafana_reader SET jit = off;

-- Connect to this database (whatever it is called) and see the tables in public.
DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO grafana_reader', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO grafana_reader;

-- Read every table of the pipeline (readings, dead_letters, alerts, readings_5s: the dashboard's
-- rollup; schema_migrations; whatever a later migration adds), and nothing else: no INSERT,
-- UPDATE, DELETE or TRUNCATE. The functions the dashboard calls (ingest_delay_quantile) are
-- executable by everyone, as PostgreSQL's functions are by default.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;

-- Tables created later in public are readable too. Default privileges belong to the role that
-- creates the tables: the owner of readings (who ran db:migrate), and the role running this
-- script.
DO $$
DECLARE
  creator text;
BEGIN
  FOR creator IN
    SELECT DISTINCT r FROM (
      SELECT tableowner::text FROM pg_catalog.pg_tables WHERE schemaname = 'public' AND tablename = 'readings'
      UNION ALL
      SELECT current_user::text
    ) AS owners(r)
  LOOP
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader',
                   creator);
  END LOOP;
END
$$;

-- heartbeat_writer: the role the consumer connects as. It reads and inserts readings and dead
-- letters, and upserts alerts (and the rollup its trigger maintains); it cannot delete, truncate,
-- or change the schema (it owns no table, and PostgreSQL 15 gives PUBLIC no CREATE on public).
-- A migration that adds a table the consumer writes adds its grant here.
-- CHANGE THE PASSWORD outside a laptop: ALTER ROLE heartbeat_writer PASSWORD '...'; and set the
-- consumer's DATABASE_URL to match.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'heartbeat_writer') THEN
    CREATE ROLE heartbeat_writer LOGIN PASSWORD 'heartbeat_writer';
  END IF;
END
$$;
DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO heartbeat_writer', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO heartbeat_writer;
GRANT SELECT, INSERT ON TABLE readings, dead_letters TO heartbeat_writer;
GRANT SELECT, INSERT, UPDATE ON TABLE alerts TO heartbeat_writer;
DO $$
BEGIN
  IF to_regclass('public.readings_5s') IS NOT NULL THEN
    GRANT SELECT, INSERT, UPDATE ON TABLE readings_5s TO heartbeat_writer;
  END IF;
  -- the coarser rollups of sql/migrations/003, which the consumer's batch statement keeps in step
  IF to_regclass('public.readings_1m') IS NOT NULL THEN
    GRANT SELECT, INSERT, UPDATE ON TABLE readings_1m, readings_1h TO heartbeat_writer;
  END IF;
  -- the dead-letter rollups of sql/migrations/006, kept by the dead-letter statement
  IF to_regclass('public.dead_letters_1m') IS NOT NULL THEN
    GRANT SELECT, INSERT, UPDATE ON TABLE dead_letters_1m, dead_letters_1h TO heartbeat_writer;
  END IF;
END
$$;

-- The partition maintenance step (sql/migrations/002), which the consumer runs at start and every
-- --maintain-every: a SECURITY DEFINER function of the tables' owner, so the writer gets no DDL.
DO $$
BEGIN
  IF to_regprocedure('heartbeat_maintain(timestamptz, boolean, interval)') IS NOT NULL THEN
    GRANT EXECUTE ON FUNCTION heartbeat_maintain(timestamptz, boolean, interval) TO heartbeat_writer;
  END IF;
END
$$;
