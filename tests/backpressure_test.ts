/**
 * The consumer's back-pressure on the real servers: while PostgreSQL cannot write (the readings
 * table is locked by another session), the consumer stops fetching once the sink holds
 * `maxPendingBytes`, instead of reading the whole topic into memory; when the lock goes, everything
 * is stored and committed.
 */
import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { startConsumer } from "../lib/kafka/consumer_loop.ts";
import { createKafka, ensureTopic } from "../lib/kafka/client.ts";
import { createLogger } from "../lib/ops/log.ts";
import { createValidator } from "../lib/domain/reading.ts";
import { Sink } from "../lib/sink/sink.ts";
import {
  BROKER,
  groupCaughtUp,
  integrationTest,
  testDatabase,
  testTopic,
  uniqueName,
  waitUntil,
} from "./support/helpers.ts";

const quiet = createLogger({ level: "error", pretty: false, write: () => {} });
const MESSAGES = 400;
const PADDING = 2_000; // bytes of an extra field each message carries (the validator ignores it)

integrationTest("the consumer stops fetching at maxPendingBytes while the database cannot write", async () => {
  await using db = await testDatabase();
  await using topic = testTopic();
  const kafka = createKafka([BROKER], "heartbeat-test", quiet);
  await ensureTopic(kafka, topic.name, 1, quiet);
  // 40 requests of 10 messages: record batches of ~20 KB, so one fetch holds a few of them
  const producer = kafka.producer();
  await producer.connect();
  for (let r = 0; r < MESSAGES / 10; r++) {
    await producer.send({
      topic: topic.name,
      messages: Array.from({ length: 10 }, (_, i) => {
        const n = r * 10 + i;
        const at = new Date(Date.UTC(2026, 10, 25, 12) + n * 1000).toISOString();
        return {
          key: "CUST-1",
          value: JSON.stringify({ customer_id: "CUST-1", timestamp: at, heart_rate: 70, padding: "x".repeat(PADDING) }),
        };
      }),
    });
  }
  await producer.disconnect();

  // another session holds the readings table against writes (reads go on): the sink's INSERT waits
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  await locker.query("BEGIN");
  await locker.query("LOCK TABLE readings IN EXCLUSIVE MODE");

  const sink = new Sink({
    store: db.repository,
    validate: createValidator({}, () => Date.UTC(2027, 0, 1)),
    batchSize: 1_000,
    batchWaitMs: 5,
    log: quiet,
  });
  const maxPendingBytes = 64 * 1024;
  const groupId = uniqueName("backpressure");
  const running = await startConsumer({
    kafka,
    topic: topic.name,
    groupId,
    fromBeginning: true,
    sink,
    log: quiet,
    fetchBytes: 16 * 1024,
    maxPendingRecords: 1_000_000, // only the byte bound applies
    maxPendingBytes,
  });
  let unlocked = false;
  try {
    await waitUntil("the sink to fill up", () => Promise.resolve(sink.pendingBytes >= maxPendingBytes));
    // a few more fetches' time: the consumer must not take more
    let most = 0;
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 200));
      most = Math.max(most, sink.pendingBytes);
    }
    const perMessage = PADDING + 100;
    // the bound, plus the one partition batch whose handler found room (a fetch of <= 16 KiB a partition,
    // rounded up to whole ~20 KB record batches): far from the 800 KB the topic holds
    assert.ok(
      most < maxPendingBytes + 64 * 1024,
      `${most} bytes pending (${Math.round(most / perMessage)} of ${MESSAGES} messages)`,
    );
    assert.ok(sink.pending < MESSAGES / 2, `${sink.pending} of ${MESSAGES} messages taken`);
    const stored = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings");
    assert.deepEqual(stored, [{ n: 0 }], "nothing can be stored while the table is locked");

    await locker.query("COMMIT");
    unlocked = true;
    await waitUntil("every message to be stored and committed", () => groupCaughtUp(topic.kafka, topic.name, groupId));
    const after = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings");
    assert.deepEqual(after, [{ n: MESSAGES }]);
  } finally {
    if (!unlocked) await locker.query("ROLLBACK").catch(() => {});
    await locker.end();
    await running.stop();
    await sink.close();
  }
});
