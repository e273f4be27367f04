import assert from "node:assert/strict";
import { type BatchFigures, ConsumerMetrics, ProducerMetrics, registerProcessMetrics } from "./metrics.ts";
import { Registry } from "prom-client";
import { REASON_CODES } from "../domain/reading.ts";

const NOW = Date.UTC(2026, 10, 25, 20, 0, 0);

function batch(overrides: Partial<BatchFigures> = {}): BatchFigures {
  return {
    records: 10,
    inserted: 6,
    duplicates: 1,
    rejectedDuplicates: 0,
    writeMs: 42,
    retries: 0,
    reasons: { not_json: 2, heart_rate_out_of_range: 1 },
    readingTimesMs: [NOW - 50, NOW - 50, NOW - 200, NOW - 200, NOW - 3_000, NOW - 3_000, NOW - 7_200_000],
    ...overrides,
  };
}

/** The value of one sample line, e.g. `name{label="x"}`, in the exposition text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("ConsumerMetrics exposes counters, histograms and gauges with their labels after a batch", async () => {
  const metrics = new ConsumerMetrics({ now: () => NOW, reasons: REASON_CODES });
  metrics.recordBatch(batch());
  metrics.setAssignment([0, 1]);
  metrics.recordLag(0, 0);
  metrics.recordLag(1, 42);
  const text = await metrics.metrics();
  const p = "heartbeat_consumer_";
  assert.equal(sample(text, `${p}messages_consumed_total`), 10);
  assert.equal(sample(text, `${p}readings_stored_total`), 6);
  assert.equal(sample(text, `${p}rejected_total{reason="not_json"}`), 2);
  assert.equal(sample(text, `${p}rejected_total{reason="heart_rate_out_of_range"}`), 1);
  // 7 valid readings: 6 inserted + 1 duplicate, so none was refused by the database
  assert.equal(sample(text, `${p}rejected_total{reason="rejected_by_database"}`), 0);
  assert.equal(sample(text, `${p}duplicates_skipped_total{table="readings"}`), 1);
  assert.equal(sample(text, `${p}duplicates_skipped_total{table="dead_letters"}`), 0);
  assert.equal(sample(text, `${p}batch_size_bucket{le="10"}`), 1);
  assert.equal(sample(text, `${p}batch_size_sum`), 10);
  assert.equal(sample(text, `${p}db_write_seconds_bucket{le="0.05"}`), 1);
  assert.equal(sample(text, `${p}db_write_seconds_bucket{le="0.025"}`), 0);
  assert.equal(sample(text, `${p}end_to_end_delay_seconds_count`), 7);
  assert.equal(sample(text, `${p}end_to_end_delay_seconds_bucket{le="0.05"}`), 2);
  assert.equal(sample(text, `${p}end_to_end_delay_seconds_bucket{le="0.25"}`), 4);
  assert.equal(sample(text, `${p}end_to_end_delay_seconds_bucket{le="5"}`), 6);
  assert.equal(sample(text, `${p}end_to_end_delay_seconds_bucket{le="3600"}`), 6);
  assert.equal(sample(text, `${p}end_to_end_delay_seconds_bucket{le="+Inf"}`), 7);
  assert.equal(sample(text, `${p}lag_messages{partition="0"}`), 0);
  assert.equal(sample(text, `${p}lag_messages{partition="1"}`), 42);
  assert.equal(sample(text, `${p}assigned_partitions`), 2);
  assert.equal(sample(text, `${p}ready`), 0, "Kafka not seen and database not checked yet");
  for (
    const name of ["db_write_retries_total", "db_outages_total", "db_connection_errors_total", "kafka_restarts_total"]
  ) {
    assert.equal(sample(text, `${p}${name}`), 0, name);
  }
  assert.match(text, /^# TYPE heartbeat_consumer_end_to_end_delay_seconds histogram$/m);
  assert.match(text, /^# HELP heartbeat_consumer_lag_messages /m);
});

Deno.test("ConsumerMetrics counts the alerts each batch opened and closed, both from 0", async () => {
  const metrics = new ConsumerMetrics({ now: () => NOW });
  const series = (event: string) => `heartbeat_consumer_alert_events_total{event="${event}"}`;
  assert.deepEqual([
    sample(await metrics.metrics(), series("opened")),
    sample(await metrics.metrics(), series("closed")),
  ], [0, 0]);
  metrics.recordBatch(batch({ events: [{ type: "open" }, { type: "close" }, { type: "open" }] }));
  metrics.recordBatch(batch());
  const text = await metrics.metrics();
  assert.deepEqual([sample(text, series("opened")), sample(text, series("closed"))], [2, 1]);
});

Deno.test("ConsumerMetrics lists every rejection reason it is given from the start, at 0", async () => {
  const text = await new ConsumerMetrics({ reasons: REASON_CODES }).metrics();
  for (const reason of REASON_CODES) {
    assert.equal(sample(text, `heartbeat_consumer_rejected_total{reason="${reason}"}`), 0, reason);
  }
});

Deno.test("ConsumerMetrics counts valid readings the database refused as rejected_by_database, and retries", async () => {
  const metrics = new ConsumerMetrics({ now: () => NOW });
  metrics.recordBatch(batch({ inserted: 4, duplicates: 1, retries: 3, rejectedDuplicates: 2 }));
  const text = await metrics.metrics();
  assert.equal(sample(text, `heartbeat_consumer_rejected_total{reason="rejected_by_database"}`), 2);
  assert.equal(sample(text, "heartbeat_consumer_db_write_retries_total"), 3);
  assert.equal(sample(text, `heartbeat_consumer_duplicates_skipped_total{table="dead_letters"}`), 2);
});

Deno.test("ConsumerMetrics drops the lag of partitions no longer assigned", async () => {
  const metrics = new ConsumerMetrics();
  metrics.setAssignment([0, 1, 2]);
  for (const p of [0, 1, 2]) metrics.recordLag(p, 10 + p);
  metrics.setAssignment([2]);
  let text = await metrics.metrics();
  assert.equal(sample(text, `heartbeat_consumer_lag_messages{partition="0"}`), undefined);
  assert.equal(sample(text, `heartbeat_consumer_lag_messages{partition="1"}`), undefined);
  assert.equal(sample(text, `heartbeat_consumer_lag_messages{partition="2"}`), 12);
  metrics.kafkaDisconnected();
  text = await metrics.metrics();
  assert.equal(sample(text, `heartbeat_consumer_lag_messages{partition="2"}`), undefined);
  assert.equal(sample(text, "heartbeat_consumer_assigned_partitions"), 0);
});

Deno.test("ConsumerMetrics is ready only with Kafka answering, partitions assigned and database writes succeeding", async (t) => {
  let now = NOW;
  const ready = () => {
    const m = new ConsumerMetrics({ now: () => now, kafkaSilenceMs: 30_000 });
    m.kafkaAlive();
    m.setAssignment([0]);
    m.setDatabaseReady(true);
    return m;
  };
  const cases: [string, (m: ConsumerMetrics) => void, string[]][] = [
    ["all checks pass", () => {}, []],
    ["Kafka silent for longer than the session timeout", () => now += 31_000, ["kafka"]],
    ["Kafka silent for less than the session timeout", () => now += 29_000, []],
    ["disconnected from Kafka (which revokes the partitions)", (m) => m.kafkaDisconnected(), ["kafka", "partitions"]],
    ["no partition assigned (more consumers than partitions)", (m) => m.setAssignment([]), ["partitions"]],
    ["database writes failing", (m) => m.setDatabaseReady(false), ["database"]],
    ["stopping", (m) => m.stopping(), ["shutdown"]],
  ];
  for (const [name, change, failing] of cases) {
    await t.step(name, async () => {
      now = NOW;
      const m = ready();
      change(m);
      const report = m.readiness();
      assert.equal(report.ready, failing.length === 0, JSON.stringify(report));
      assert.deepEqual(Object.entries(report.checks).filter(([, c]) => !c.ok).map(([k]) => k), failing);
      assert.equal(sample(await m.metrics(), "heartbeat_consumer_ready"), failing.length === 0 ? 1 : 0);
    });
  }
  await t.step("a fresh consumer is not ready and says why", () => {
    const report = new ConsumerMetrics().readiness();
    assert.equal(report.ready, false);
    assert.deepEqual(report.checks, {
      kafka: { ok: false, detail: "not connected" },
      partitions: { ok: false, detail: "none assigned" },
      database: { ok: false, detail: "not reachable or writes failing" },
    });
  });
});

Deno.test("ConsumerMetrics counts a database outage once per failing period, and Kafka restarts and pool errors", async () => {
  const m = new ConsumerMetrics();
  m.setDatabaseReady(false); // not yet checked → failing: no outage
  m.setDatabaseReady(true);
  m.setDatabaseReady(false);
  m.setDatabaseReady(false);
  m.setDatabaseReady(true);
  m.setDatabaseReady(false);
  m.kafkaRestarted();
  m.databaseConnectionError();
  m.databaseConnectionError();
  const text = await m.metrics();
  assert.equal(sample(text, "heartbeat_consumer_db_outages_total"), 2);
  assert.equal(sample(text, "heartbeat_consumer_kafka_restarts_total"), 1);
  assert.equal(sample(text, "heartbeat_consumer_db_connection_errors_total"), 2);
});

Deno.test("ConsumerMetrics.consumerHooks() feed the readiness checks and the gauges", async () => {
  const m = new ConsumerMetrics();
  const hooks = m.consumerHooks();
  hooks.onAlive?.();
  hooks.onAssignment?.([3, 1]);
  hooks.onLag?.(1, 7);
  hooks.onCrash?.(true);
  m.setDatabaseReady(true);
  assert.equal(m.readiness().ready, true);
  assert.equal(m.readiness().checks.partitions?.detail, "assigned 1,3");
  const text = await m.metrics();
  assert.equal(sample(text, `heartbeat_consumer_lag_messages{partition="1"}`), 7);
  assert.equal(sample(text, "heartbeat_consumer_kafka_restarts_total"), 1);
  hooks.onDisconnect?.();
  assert.equal(m.readiness().checks.kafka?.ok, false);
});

Deno.test("ProducerMetrics counts produced, injected-fault, acknowledged and failed messages, and the queue", async () => {
  const m = new ProducerMetrics();
  let queued = 5;
  m.queued = () => queued;
  m.produced(1);
  m.produced(1, 1);
  m.produced(8, 2);
  m.acknowledged(7);
  let text = await m.metrics();
  const p = "heartbeat_producer_";
  assert.equal(sample(text, `${p}messages_produced_total`), 10);
  assert.equal(sample(text, `${p}faults_injected_total`), 3);
  assert.equal(sample(text, `${p}messages_acknowledged_total`), 7);
  assert.equal(sample(text, `${p}messages_failed_total`), 0);
  assert.equal(sample(text, `${p}queued_messages`), 5);
  // counts taken at a scrape are not counted again at the next one
  m.acknowledged(3);
  m.failed(2);
  queued = 0;
  text = await m.metrics();
  assert.equal(sample(text, `${p}messages_produced_total`), 10);
  assert.equal(sample(text, `${p}messages_acknowledged_total`), 10);
  assert.equal(sample(text, `${p}messages_failed_total`), 2);
  assert.equal(sample(text, `${p}queued_messages`), 0);
});

Deno.test("ProducerMetrics is ready while connected, until a request fails for good or it stops", async (t) => {
  const cases: [string, (m: ProducerMetrics) => void, string[]][] = [
    ["not connected yet", () => {}, ["kafka"]],
    ["connected", (m) => m.setConnected(true), []],
    ["a request failed for good", (m) => (m.setConnected(true), m.failed(100)), ["produce"]],
    ["stopping", (m) => (m.setConnected(true), m.stopping()), ["shutdown"]],
    ["disconnected", (m) => (m.setConnected(true), m.setConnected(false)), ["kafka"]],
  ];
  for (const [name, change, failing] of cases) {
    await t.step(name, async () => {
      const m = new ProducerMetrics();
      change(m);
      const report = m.readiness();
      assert.deepEqual(Object.entries(report.checks).filter(([, c]) => !c.ok).map(([k]) => k), failing);
      assert.equal(report.ready, failing.length === 0);
      assert.equal(sample(await m.metrics(), "heartbeat_producer_ready"), failing.length === 0 ? 1 : 0);
    });
  }
});

Deno.test("registerProcessMetrics() reports CPU, memory and start time without any permission", async () => {
  const registry = new Registry();
  registerProcessMetrics(registry);
  const first = await registry.metrics();
  for (let i = 0; i < 100_000; i++) Math.sqrt(i); // spend a little CPU
  const second = await registry.metrics();
  assert.ok(sample(first, "process_resident_memory_bytes")! > 0);
  assert.ok(sample(first, "deno_heap_used_bytes")! > 0);
  assert.ok(sample(first, "deno_heap_total_bytes")! >= sample(first, "deno_heap_used_bytes")!);
  assert.ok(sample(first, "deno_external_bytes")! > 0);
  const start = sample(first, "process_start_time_seconds")!;
  assert.ok(Math.abs(start - Date.now() / 1000) < 24 * 3600, `start time ${start}`);
  const cpu = sample(first, "process_cpu_seconds_total")!;
  assert.ok(cpu > 0);
  assert.ok(sample(second, "process_cpu_seconds_total")! >= cpu, "a counter never goes down");
  assert.doesNotMatch(first, /nodejs_|process_open_fds/, "no default collectors (they need --allow-all here)");
});

Deno.test("two metric sets live side by side: each has its own registry", async () => {
  const a = new ConsumerMetrics({ processMetrics: false });
  const b = new ConsumerMetrics({ processMetrics: false });
  a.recordBatch(batch());
  assert.equal(sample(await a.metrics(), "heartbeat_consumer_messages_consumed_total"), 10);
  assert.equal(sample(await b.metrics(), "heartbeat_consumer_messages_consumed_total"), 0);
  assert.doesNotMatch(await b.metrics(), /^process_/m);
});
