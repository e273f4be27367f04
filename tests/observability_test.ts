/**
 * The metrics and health endpoints of the real entry scripts, run with their `deno task`
 * permissions against the real Kafka broker and PostgreSQL server: `/healthz` answers while the
 * process lives, `/readyz` turns ready once the consumer joined its group and the database
 * answers (and not ready while database writes fail), `/metrics` counts what was stored and
 * rejected, and SIGTERM stops the process with exit code 0 and closes the endpoint.
 *
 * The tasks' `--allow-net` lets the consumer listen on 127.0.0.1:9464 and the producer on
 * 127.0.0.1:9465 only, so these tests use those default ports (one script at a time); every
 * other test starts its scripts with the endpoint off.
 */
import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { Simulator } from "../lib/simulator/simulator.ts";
import {
  integrationTest,
  PG_SERVER,
  producerArgs,
  type SeededRun,
  spawnTask,
  testDatabase,
  testTopic,
  uniqueName,
  waitUntil,
} from "./support/helpers.ts";

const CONSUMER_PORT = 9464;
const PRODUCER_PORT = 9465;

/** A GET on the endpoint: status and body, or null when nothing answers. */
async function get(port: number, path: string): Promise<{ status: number; body: string } | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: response.status, body: await response.text() };
  } catch {
    return null;
  }
}

/** The samples of a Prometheus text exposition, by series (`name{labels}`). */
async function scrape(port: number): Promise<Map<string, number>> {
  const response = await get(port, "/metrics");
  assert.equal(response?.status, 200, "/metrics answers 200");
  const samples = new Map<string, number>();
  for (const line of response!.body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

async function assertPortFree(port: number): Promise<void> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
  } catch {
    return;
  }
  throw new Error(`something already listens on 127.0.0.1:${port} (a consumer or producer started by hand?)`);
}

const RUN = { seed: 11, customers: 5, rate: 1000, count: 400, invalidRate: 0.1, anomalyRate: 0.01 };
const runFrom = (start: string): SeededRun => ({ ...RUN, start });

/** What the simulator says a run must produce: valid readings and rejections by reason. */
function expected(start: string): { valid: number; reasons: Map<string, number> } {
  const sim = new Simulator({
    seed: RUN.seed,
    customers: RUN.customers,
    rate: RUN.rate,
    startMs: Date.parse(start),
    anomalyRate: RUN.anomalyRate,
    invalidRate: RUN.invalidRate,
  });
  let valid = 0;
  const reasons = new Map<string, number>();
  for (let i = 0; i < RUN.count; i++) {
    const { truth } = sim.next();
    if (truth.valid) valid++;
    else reasons.set(truth.reason, (reasons.get(truth.reason) ?? 0) + 1);
  }
  return { valid, reasons };
}

integrationTest(
  "the consumer serves /healthz, is ready on /readyz once joined and not while the database fails, counts on /metrics, and SIGTERM exits 0",
  async () => {
    await assertPortFree(CONSUMER_PORT);
    await using db = await testDatabase();
    await using topic = testTopic();
    const dbName = new URL(db.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: `${PG_SERVER}/postgres` });
    await admin.connect();
    try {
      await using consumer = await spawnTask("consumer", [], {
        DATABASE_URL: db.url,
        KAFKA_TOPIC: topic.name,
        KAFKA_GROUP_ID: uniqueName("observability"),
        HEARTBEAT_CONSUMER_BATCH_WAIT_MS: "20",
        HEARTBEAT_CONSUMER_METRICS_PORT: String(CONSUMER_PORT),
      });
      const why = () => `consumer stderr:\n${consumer.stderr()}`;

      await waitUntil("/healthz to answer 200", async () => (await get(CONSUMER_PORT, "/healthz"))?.status === 200);
      await waitUntil("/readyz to answer 200", async () => (await get(CONSUMER_PORT, "/readyz"))?.status === 200)
        .catch((e) => assert.fail(`${e.message}\n${why()}`));
      const ready = JSON.parse((await get(CONSUMER_PORT, "/readyz"))!.body);
      assert.deepEqual(Object.keys(ready.checks).sort(), ["database", "kafka", "partitions"]);
      assert.equal(ready.checks.partitions.detail, "assigned 0,1,2,3,4,5");

      // a run with every fault kind the simulator injects
      const first = "2026-11-20T08:00:00Z";
      const producer = await spawnTask("producer", producerArgs(topic.name, runFrom(first)));
      assert.equal((await producer.status).code, 0, producer.stderr());
      const truth = expected(first);
      // the lag gauge is set once the batch's offsets are committed, a moment after the batch counted
      await waitUntil("/metrics to count every message and report lag", async () => {
        const now = await scrape(CONSUMER_PORT);
        return now.get("heartbeat_consumer_messages_consumed_total") === RUN.count &&
          [...now.keys()].some((k) => k.startsWith("heartbeat_consumer_lag_messages{partition="));
      }).catch((e) => assert.fail(`${e.message}\n${why()}`));
      let m = await scrape(CONSUMER_PORT);
      assert.equal(m.get("heartbeat_consumer_readings_stored_total"), truth.valid);
      assert.equal((await db.counts()).readings, truth.valid, "the database agrees");
      for (const [reason, n] of truth.reasons) {
        assert.equal(m.get(`heartbeat_consumer_rejected_total{reason="${reason}"}`), n, reason);
      }
      const rejected = [...m].filter(([k]) => k.startsWith("heartbeat_consumer_rejected_total{"))
        .reduce((sum, [, v]) => sum + v, 0);
      assert.equal(rejected, RUN.count - truth.valid);
      assert.equal(m.get("heartbeat_consumer_end_to_end_delay_seconds_count"), truth.valid);
      assert.ok(m.get("heartbeat_consumer_batch_size_count")! >= 1);
      assert.equal(m.get("heartbeat_consumer_batch_size_sum"), RUN.count);
      assert.ok(m.get("heartbeat_consumer_db_write_seconds_count")! >= 1);
      assert.equal(m.get("heartbeat_consumer_assigned_partitions"), 6);
      const lags = [...m].filter(([k]) => k.startsWith("heartbeat_consumer_lag_messages{partition="));
      assert.ok(lags.length >= 1 && lags.every(([, v]) => v >= 0), JSON.stringify(lags));
      assert.equal(m.get("heartbeat_consumer_ready"), 1);
      assert.ok(m.get("process_resident_memory_bytes")! > 0);

      // the database refuses connections: the next batch fails, and readiness says so
      await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'heartbeat-consumer'",
        [dbName],
      );
      const second = "2026-11-21T08:00:00Z";
      const again = await spawnTask("producer", producerArgs(topic.name, runFrom(second)));
      assert.equal((await again.status).code, 0, again.stderr());
      await waitUntil("/readyz to answer 503", async () => (await get(CONSUMER_PORT, "/readyz"))?.status === 503);
      const notReady = JSON.parse((await get(CONSUMER_PORT, "/readyz"))!.body);
      assert.equal(notReady.checks.database.ok, false, JSON.stringify(notReady));
      assert.equal(notReady.checks.kafka.ok, true, JSON.stringify(notReady));
      m = await scrape(CONSUMER_PORT);
      assert.equal(m.get("heartbeat_consumer_ready"), 0);
      assert.equal(m.get("heartbeat_consumer_db_outages_total"), 1);

      await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
      await waitUntil("/readyz to answer 200 again", async () => (await get(CONSUMER_PORT, "/readyz"))?.status === 200);
      await waitUntil(
        "/metrics to count the second run",
        async () => (await scrape(CONSUMER_PORT)).get("heartbeat_consumer_messages_consumed_total") === 2 * RUN.count,
      );
      m = await scrape(CONSUMER_PORT);
      assert.equal(m.get("heartbeat_consumer_readings_stored_total"), truth.valid + expected(second).valid);
      assert.ok(m.get("heartbeat_consumer_db_write_retries_total")! >= 1);

      consumer.kill("SIGTERM");
      assert.equal((await consumer.status).code, 0, why());
      assert.equal(await get(CONSUMER_PORT, "/healthz"), null, "the endpoint is closed");
    } finally {
      await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`).catch(() => {});
      await admin.end();
    }
  },
);

integrationTest(
  "the producer serves /healthz, is ready on /readyz once connected, counts on /metrics, and SIGTERM exits 0",
  async () => {
    await assertPortFree(PRODUCER_PORT);
    await using topic = testTopic();
    await using producer = await spawnTask(
      "producer",
      ["--topic", topic.name, "--rate", "200", "--invalid-rate", "0.2"],
      { HEARTBEAT_PRODUCER_METRICS_PORT: String(PRODUCER_PORT) },
    );
    const why = () => `producer stderr:\n${producer.stderr()}`;
    await waitUntil("/readyz to answer 200", async () => (await get(PRODUCER_PORT, "/readyz"))?.status === 200)
      .catch((e) => assert.fail(`${e.message}\n${why()}`));
    assert.equal((await get(PRODUCER_PORT, "/healthz"))?.status, 200);
    await waitUntil(
      "/metrics to count acknowledged messages",
      async () => ((await scrape(PRODUCER_PORT)).get("heartbeat_producer_messages_acknowledged_total") ?? 0) >= 50,
    );
    const m = await scrape(PRODUCER_PORT);
    assert.ok(
      m.get("heartbeat_producer_messages_produced_total")! >= m.get("heartbeat_producer_messages_acknowledged_total")!,
    );
    assert.ok(m.get("heartbeat_producer_faults_injected_total")! >= 1);
    assert.equal(m.get("heartbeat_producer_messages_failed_total"), 0);
    assert.equal(m.get("heartbeat_producer_ready"), 1);

    producer.kill("SIGTERM");
    assert.equal((await producer.status).code, 0, why());
    assert.equal(await get(PRODUCER_PORT, "/healthz"), null, "the endpoint is closed");
  },
);
