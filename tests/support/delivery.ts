/**
 * What the fault suites share (tests/faults_test.ts on the single broker, tests/cluster_faults_suite.ts
 * on the three-node cluster): seeded live runs of the real producer, consumers started with
 * test-friendly settings, waiting for a group's members to share the partitions, and the check that
 * every valid reading is stored exactly once and every invalid one dead-lettered exactly once.
 *
 * The programs reach Kafka at `KAFKA_BROKERS` from the `env` given (default: the single test broker).
 * Requires what helpers.ts does (`--allow-net` of the brokers and 127.0.0.1:5432, `--allow-run`, `--allow-read`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { SimulatedMessage } from "../../lib/simulator/simulator.ts";
import {
  type Child,
  producerArgs as seededArgs,
  type SeededRun,
  simulateRun,
  spawnTask,
  type TestDatabase,
  type TestTopic,
  waitUntil,
} from "./helpers.ts";

/** A row of a fault table: what was sent, where it ended, and what went missing or came twice. */
export interface FaultRow {
  scenario: string;
  sent: number;
  stored: number;
  rejected: number;
  lost: number;
  duplicated: number;
}

/** A seeded run with the suites' anomaly rate (0.5 %). */
export type Run = Omit<SeededRun, "anomalyRate">;

/** The messages of a run, as the producer makes them. */
export const simulate = (run: Run): SimulatedMessage[] => simulateRun({ ...run, anomalyRate: 0.005 }).messages;

/** The producer flags of a run. */
export const producerArgs = (topic: string, run: Run, extra: string[] = []): string[] =>
  seededArgs(topic, { ...run, anomalyRate: 0.005 }, extra);

/** A seeded run that starts a second from now (live traffic) with 1% invalid messages. */
export const liveRun = (run: Pick<Run, "seed" | "count" | "rate" | "customers">): Run => ({
  ...run,
  start: new Date(Date.now() + 1_000).toISOString(),
  invalidRate: 0.01,
});

/** Starts the real producer script on a seeded run; resolves once it has connected and sends. */
export async function startProducer(
  topic: string,
  run: Run,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Child> {
  const producer = await spawnTask("producer", producerArgs(topic, run, extra), env);
  await waitUntil(
    "the producer to start sending",
    () => {
      if (producer.exited()) throw new Error(`the producer exited before sending:\n${producer.stderr()}`);
      return Promise.resolve(producer.stderr().includes('"msg":"producing"'));
    },
  );
  return producer;
}

/** Starts the consumer on a topic and database with test-friendly settings (a 6 s session). */
export function startConsumer(
  db: TestDatabase,
  topic: TestTopic,
  group: string,
  env: Record<string, string> = {},
): Promise<Child> {
  return spawnTask("consumer", [], {
    DATABASE_URL: db.url,
    KAFKA_TOPIC: topic.name,
    KAFKA_GROUP_ID: group,
    KAFKA_SESSION_TIMEOUT: "6s",
    ...env,
  });
}

/** Rows stored: readings plus dead letters. */
export async function total(db: TestDatabase): Promise<number> {
  const c = await db.counts();
  return c.readings + c.deadLetters;
}

/** Records on the topic (sum over partitions), to catch a producer that wrote duplicates. */
export async function topicRecords(topic: TestTopic): Promise<number> {
  const admin = topic.kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic.name);
    return offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Compares the database with the ground truth and returns the fault table's row. Asserts nothing
 * lost and nothing duplicated, in the database and on the topic (its record count).
 */
export async function checkDelivery(
  scenario: string,
  db: TestDatabase,
  topic: TestTopic,
  messages: SimulatedMessage[],
  onRow: (row: FaultRow) => void,
): Promise<FaultRow> {
  const valid = new Set<string>();
  let invalid = 0;
  for (const m of messages) {
    if (m.truth.valid) valid.add(`${m.truth.customerId}|${m.truth.recordedAt}|${m.truth.heartRate}`);
    else invalid++;
  }
  const rows = await db.query<{ k: string }>(
    `SELECT customer_id || '|' || to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || heart_rate AS k FROM readings`,
  );
  const stored = new Set(rows.map((r) => r.k));
  const lostReadings = [...valid].filter((k) => !stored.has(k)).length;
  const extraReadings = [...stored].filter((k) => !valid.has(k)).length;
  const { readings, deadLetters } = await db.counts();
  const records = await topicRecords(topic);
  const row: FaultRow = {
    scenario,
    sent: messages.length,
    stored: stored.size,
    rejected: deadLetters,
    lost: lostReadings + Math.max(0, invalid - deadLetters),
    duplicated: extraReadings + (readings - stored.size) + Math.max(0, deadLetters - invalid) +
      Math.max(0, records - messages.length),
  };
  onRow(row);
  assert.equal(records, messages.length, "the topic holds each produced message exactly once");
  assert.equal(lostReadings, 0, "no valid reading lost");
  assert.equal(extraReadings, 0, "no unexpected reading stored");
  assert.equal(deadLetters, invalid, "every invalid message dead-lettered exactly once");
  assert.equal(stored.size, valid.size);
  assert.equal(readings, stored.size, "no reading stored twice");
  return row;
}

/** The partitions of a consumer's last "joined group" log line, or undefined before it joined. */
export function lastJoin(c: Child): string | undefined {
  return [...c.stderr().matchAll(/"msg":"joined group".*"partitions":\[([\d,]*)\]/g)].map((m) => m[1]).at(-1);
}

/** Waits until two group members' latest assignments are both non-empty and cover the 6 partitions. */
export function waitForSharing(a: Child, b: Child): Promise<void> {
  return waitUntil("both members to share the partitions", () => {
    const la = lastJoin(a), lb = lastJoin(b);
    return Promise.resolve(
      la !== undefined && lb !== undefined && la !== "" && lb !== "" &&
        la.split(",").length + lb.split(",").length === 6,
    );
  }, 60_000);
}

/** Waits until a member's latest assignment is every partition. */
export function waitForAllPartitions(c: Child, what: string): Promise<void> {
  return waitUntil(what, () => Promise.resolve(lastJoin(c) === "0,1,2,3,4,5"), 60_000);
}
