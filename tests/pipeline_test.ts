/**
 * End to end on the real servers: the real producer script publishes a seeded run (every fault
 * kind included) to a real Kafka topic, the real consumer script stores it in a real PostgreSQL
 * database, and the test compares what is stored with the simulator's ground truth, exactly.
 * Then it redelivers everything and checks that nothing is added.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { FAULTS } from "../lib/simulator/simulator.ts";
import {
  groupCaughtUp,
  integrationTest,
  producerArgs,
  type SeededRun,
  simulateRun,
  spawnTask,
  testDatabase,
  testTopic,
  uniqueName,
  waitForJoin,
  waitUntil,
} from "./support/helpers.ts";

const RUN: SeededRun = {
  seed: 42,
  customers: 7,
  rate: 1000,
  count: 6000,
  start: "2026-11-20T08:00:00Z",
  invalidRate: 0.05,
  anomalyRate: 0.01,
};

function bytesOf(value: string | Uint8Array): string {
  return Buffer.from(typeof value === "string" ? new TextEncoder().encode(value) : value).toString("hex");
}

interface ReadingRow {
  customer_id: string;
  recorded_at: string;
  heart_rate: number;
  is_anomaly: boolean;
  reading_id: string | null;
}

interface DeadLetterRow {
  kafka_key: string | null;
  payload: string | null;
  reason: string;
  reasons: { code: string; detail: string }[];
}

/**
 * Both ways kafkajs runs: with every patch (the default), and without the speed patches
 * (`HEARTBEAT_KAFKAJS_PATCHES=off`; the two fixes stay, and the log says so).
 */
const PATCH_MODES = [
  { patches: "on", says: /kafkajs patches installed/ },
  {
    patches: "off",
    says:
      /kafkajs speed patches off \(HEARTBEAT_KAFKAJS_PATCHES=off\): kafkajs' own code there.*"send":"installed","coordinator":"installed"/,
  },
] as const;

for (const { patches, says } of PATCH_MODES) {
  integrationTest(
    `a seeded run through real Kafka stores exactly the valid readings and dead-letters exactly the invalid ones, and redelivery adds nothing (kafkajs patches ${patches})`,
    async () => {
      await using db = await testDatabase();
      await using topic = testTopic();
      const { messages } = simulateRun(RUN);
      const valid = messages.filter((m) => m.truth.valid);
      const invalid = messages.filter((m) => !m.truth.valid);
      // the run must exercise every fault kind, or the test proves less than it claims
      const kinds = new Set(invalid.map((m) => m.truth.valid ? "" : m.truth.fault));
      assert.deepEqual([...kinds].sort(), Object.keys(FAULTS).sort());

      const mode = { HEARTBEAT_KAFKAJS_PATCHES: patches };
      const producer = await spawnTask("producer", producerArgs(topic.name, RUN), mode);
      const produced = await producer.status;
      assert.equal(produced.code, 0, `producer failed:\n${producer.stderr()}`);
      assert.match(producer.stderr(), says, "the producer logs the patches' state at start");

      const env = { ...mode, DATABASE_URL: db.writerUrl, KAFKA_TOPIC: topic.name, KAFKA_GROUP_ID: uniqueName("g1") };
      {
        await using consumer = await spawnTask("consumer", [], env);
        await waitUntil("every message to be stored", async () => {
          const c = await db.counts();
          return c.readings + c.deadLetters >= RUN.count;
        });
        consumer.kill("SIGTERM");
        const status = await consumer.status;
        assert.equal(status.code, 0, `consumer did not stop cleanly:\n${consumer.stderr()}`);
        assert.match(consumer.stderr(), says, "the consumer logs the patches' state at start");
      }

      const readings = await db.query<ReadingRow>(
        `SELECT customer_id, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS recorded_at,
            heart_rate, is_anomaly, reading_id::text FROM readings ORDER BY recorded_at, customer_id`,
      );
      const expectedReadings = valid.map((m) => {
        if (!m.truth.valid) throw new Error("unreachable");
        return {
          customer_id: m.truth.customerId,
          recorded_at: m.truth.recordedAt,
          heart_rate: m.truth.heartRate,
          is_anomaly: m.truth.isAnomaly,
          reading_id: m.truth.readingId,
        };
      }).sort((a, b) => a.recorded_at.localeCompare(b.recorded_at) || a.customer_id.localeCompare(b.customer_id));
      assert.equal(readings.length, expectedReadings.length);
      assert.deepEqual(readings, expectedReadings);

      const letters = await db.query<DeadLetterRow>(
        "SELECT encode(kafka_key, 'escape') AS kafka_key, encode(payload, 'hex') AS payload, reason, reasons FROM dead_letters",
      );
      const key = (k: string | null, payload: string | null, reason: string) => `${k}|${payload ?? ""}|${reason}`;
      const actualLetters = letters.map((l) => key(l.kafka_key, l.payload, l.reason)).sort();
      const expectedLetters = invalid.map((m) => key(m.key, bytesOf(m.value), m.truth.valid ? "" : m.truth.reason))
        .sort();
      assert.deepEqual(actualLetters, expectedLetters);
      for (const l of letters) {
        assert.ok(l.reasons.length >= 1 && l.reasons.every((r) => r.detail.length > 0), `reasons of ${l.reason}`);
      }

      // redelivery: a new consumer group reads every record again; nothing may be added
      const before = await db.counts();
      {
        const group = uniqueName("g2");
        await using again = await spawnTask("consumer", [], { ...env, KAFKA_GROUP_ID: group });
        await waitForJoin(again);
        await waitUntil(
          "the second group to commit every partition",
          () => groupCaughtUp(topic.kafka, topic.name, group),
        );
        again.kill("SIGTERM");
        const status = await again.status;
        assert.equal(status.code, 0, again.stderr());
        const totals = JSON.parse(
          again.stderr().trim().split("\n").filter((l) => l.includes('"msg":"stopped"')).at(-1)!,
        );
        assert.equal(totals.records, RUN.count, "the second group read every record again");
        assert.equal(totals.inserted, 0);
        assert.equal(totals.rejected, 0);
      }
      assert.deepEqual(await db.counts(), before);
    },
  );
}
