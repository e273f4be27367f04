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
