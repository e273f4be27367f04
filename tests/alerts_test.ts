/**
 * Sustained-episode alerts through the real pipeline: a seeded run with injected episodes goes
 * through real Kafka into real PostgreSQL; the alerts the consumer stores are scored against the
 * simulator's ground truth, published as events on the alerts topic, identical after consumer
 * crashes mid-episode, and not opened twice when everything is redelivered.
 */
import assert from "node:assert/strict";
import type { Alert } from "../lib/domain/episodes.ts";
import { DEFAULT_DETECTOR, LONG_BASELINE_READINGS } from "../lib/domain/episodes.ts";
import { afterLearning, scoreEpisodes } from "./support/scoring.ts";
import {
  groupCaughtUp,
  integrationTest,
  producerArgs,
  type SeededRun,
  simulateRun,
  spawnTask,
  type TestDatabase,
  testDatabase,
  testTopic,
  uniqueName,
  waitForJoin,
  waitUntil,
} from "./support/helpers.ts";

const RUN: SeededRun = {
  seed: 77,
  customers: 10,
  rate: 10,
  count: 20_000,
  start: "2026-11-20T00:00:00Z",
  anomalyRate: 0.01,
  invalidRate: 0.01,
};

interface AlertRow {
  customer_id: string;
  kind: Alert["kind"];
  started_at: string;
  started_ms: number;
  opened_ms: number;
  last_ms: number;
  ended_at: string | null;
  peak: number;
  reading_count: number;
  severity: Alert["severity"];
}

async function alerts(db: TestDatabase): Promise<AlertRow[]> {
  const iso = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
  return await db.query<AlertRow>(
    `SELECT customer_id, kind, to_char(started_at AT TIME ZONE 'UTC', ${iso}) AS started_at,
            (extract(epoch FROM started_at) * 1000)::float8 AS started_ms,
            (extract(epoch FROM opened_at) * 1000)::float8 AS opened_ms,
            (extract(epoch FROM last_at) * 1000)::float8 AS last_ms,
            to_char(ended_at AT TIME ZONE 'UTC', ${iso}) AS ended_at, peak, reading_count, severity
     FROM alerts ORDER BY started_at, customer_id`,
  );
}

const asAlert = (r: AlertRow): Alert => ({
  customerId: r.customer_id,
  kind: r.kind,
  startedAt: r.started_at,
  startedAtMs: r.started_ms,
  openedAt: "",
  openedAtMs: r.opened_ms,
  lastAt: "",
  lastAtMs: r.last_ms,
  endedAt: r.ended_at,
  closedAt: null,
  peak: r.peak,
  readings: r.reading_count,
  severity: r.severity,
});

async function consumeAll(
  db: TestDatabase,
  topic: string,
  kafka: Parameters<typeof groupCaughtUp>[0],
  group: string,
  env: Record<string, string>,
  kills = 0,
) {
  const base = { DATABASE_URL: db.url, KAFKA_TOPIC: topic, KAFKA_GROUP_ID: group, KAFKA_SESSION_TIMEOUT: "6s", ...env };
  for (let i = 0; i < kills; i++) {
    const c = await spawnTask("consumer", [], { ...base, HEARTBEAT_CONSUMER_BATCH_SIZE: "300" });
    await waitUntil("some progress", async () => (await db.counts()).readings > (i + 1) * 3_000, 60_000);
    c.kill("SIGKILL");
    await c.status;
  }
  const c = await spawnTask("consumer", [], base);
  // it must be up (signal handlers installed) before we judge the group and stop it
  await waitForJoin(c);
  await waitUntil("the group to catch up", () => groupCaughtUp(kafka, topic, group), 90_000);
  c.kill("SIGTERM");
  assert.equal((await c.status).code, 0, c.stderr());
  return c.stderr();
}

integrationTest(
  "alerts from the real pipeline match the injected episodes, survive crashes, go out as events and are not opened twice on redelivery",
  async () => {
    await using topic = testTopic();
    const alertsTopic = `${topic.name}-alerts`;
    const producer = await spawnTask("producer", producerArgs(topic.name, RUN));
    assert.equal((await producer.status).code, 0, producer.stderr());

    // 1. an uninterrupted run, scored against the ground truth
    await using db = await testDatabase();
    await consumeAll(db, topic.name, topic.kafka, uniqueName("alerts"), { KAFKA_ALERTS_TOPIC: alertsTopic });
    const stored = await alerts(db);
    // an episode cut short by the end of the run is not detectable, nor one that began during a
    // customer's first readings, which only train the detector's baselines
    const learnt = Date.parse(RUN.start) + (LONG_BASELINE_READINGS + 1) * (RUN.customers / RUN.rate) * 1000;
    const episodes = simulateRun(RUN).episodes.filter((e) => e.readings >= DEFAULT_DETECTOR.minReadings);
    const scored = afterLearning(episodes, stored.map(asAlert), learnt);
    const score = scoreEpisodes(scored.truth, scored.alerts);
    for (const kind of ["bradycardia", "tachycardia"] as const) {
      const k = score.kinds[kind];
      assert.ok(k.truth >= 20, `${k.truth} ${kind} episodes injected`);
      assert.ok(k.precision >= 0.99, `${kind} precision ${k.precision}`);
      assert.ok(k.recall >= 0.99, `${kind} recall ${k.recall}`);
    }
    assert.ok(score.medianDelayMs <= DEFAULT_DETECTOR.minDurationMs + 2_000, `median delay ${score.medianDelayMs} ms`);
    console.log("pipeline detection score:", JSON.stringify({ ...score, delaysMs: undefined }));

    // 2. the events on the alerts topic: one opened event per alert, one closed event per ended one
    const consumer = topic.kafka.consumer({ groupId: uniqueName("events") });
    await consumer.connect();
    await consumer.subscribe({ topic: alertsTopic, fromBeginning: true });
    const events = new Map<string, { type: string; customer_id: string }>();
    const expected = stored.length + stored.filter((a) => a.ended_at !== null).length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`saw ${events.size} of ${expected} events`)), 30_000);
      consumer.run({
        eachMessage: ({ message }) => {
          const e = JSON.parse(message.value!.toString());
          events.set(e.event_id, e);
          if (events.size >= expected) {
            clearTimeout(timer);
            resolve();
          }
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    assert.equal([...events.values()].filter((e) => e.type === "alert.opened").length, stored.length);

    // 3. the same run with the consumer SIGKILLed three times mid-stream gives the same alerts
    await using crashed = await testDatabase();
    await consumeAll(crashed, topic.name, topic.kafka, uniqueName("crash"), { KAFKA_ALERTS_TOPIC: "none" }, 3);
    const key = (a: AlertRow) =>
      `${a.customer_id}|${a.kind}|${a.started_at}|${a.ended_at}|${a.peak}|${a.reading_count}`;
    assert.deepEqual((await alerts(crashed)).map(key), stored.map(key));

    // 4. redelivery of everything to a new group: no alert added or changed
    await consumeAll(db, topic.name, topic.kafka, uniqueName("again"), { KAFKA_ALERTS_TOPIC: "none" });
    assert.deepEqual((await alerts(db)).map(key), stored.map(key));
  },
  240_000,
);
