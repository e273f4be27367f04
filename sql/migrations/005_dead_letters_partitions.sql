-- dead_letters becomes range-partitioned by day like readings, by a key fixed per Kafka record,
-- so that a redelivered bad record still meets its first copy: kafka_time, the record's own
-- timestamp (which is when it reached Kafka, so within the consumer's lag of its rejection), or
-- 'infinity' for a record without one (kept in the default partition, never dropped). Its key is
-- (topic, kafka_partition, kafka_offset, kafka_time). Retention: 90 days by default.
--
-- Upgrading: dead letters are few (about 1 % of the readings in a healthy fleet), so the rows are
-- copied into the new table rather than attached (the key gains a column); the maintenance run
-- at the end files them by day, and deletes those already older than the window.

ALTER TABLE dead_letters RENAME TO dead_letters_legacy;
ALTER INDEX dead_letters_pkey RENAME TO dead_letters_legacy_pkey;
ALTER INDEX dead_letters_rejected_at_idx RENAME TO dead_letters_legacy_rejected_at_idx;

CREATE TABLE dead_letters (
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
  kafka_time       timestamptz NOT NULL,        -- the partition key: kafka_timestamp, or 'infinity' without one
  PRIMARY KEY (topic, kafka_partition, kafka_offset, kafka_time)
) PARTITION BY RANGE (kafka_time);
CREATE INDEX dead_letters_rejected_at_idx ON dead_letters (rejected_at);
CREATE TABLE dead_letters_default PARTITION OF dead_letters DEFAULT;

INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, kafka_key, kafka_timestamp, payload, payload_bytes,
                          reason, reasons, rejected_at, kafka_time)
SELECT topic, kafka_partition, kafka_offset, kafka_key, kafka_timestamp, payload, payload_bytes, reason, reasons,
       rejected_at, coalesce(kafka_timestamp, 'infinity')
FROM dead_letters_legacy;
DROP TABLE dead_letters_legacy;

INSERT INTO heartbeat_partitions (parent, key_column, step, premake, retention) VALUES
  ('dead_letters', 'kafka_time', '1 day', 7, '90 days');

SELECT count(*) FROM heartbeat_maintain();
