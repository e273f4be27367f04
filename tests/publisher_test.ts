/**
 * The publisher against the real broker: requests stay under the broker's size limit whatever the
 * batch size, so a one-partition topic without compression takes large batches of large messages.
 */
import assert from "node:assert/strict";
import { ensureTopic } from "../lib/kafka/client.ts";
import { createLogger } from "../lib/ops/log.ts";
import { MAX_REQUEST_BYTES, Publisher } from "../lib/kafka/publisher.ts";
import { integrationTest, testTopic } from "./support/helpers.ts";

const quiet = createLogger({ level: "error", pretty: false, write: () => {} });

integrationTest(
  "the publisher cuts requests at MAX_REQUEST_BYTES, so the broker never refuses one as too large",
  async () => {
    await using topic = testTopic();
    await ensureTopic(topic.kafka, topic.name, 1, quiet);
    const acks: number[] = [];
    const failures: unknown[] = [];
    // 10,000 messages of 1 KB a request would be 10 MB: ten times what the broker takes in one batch
    const publisher = new Publisher({
      kafka: topic.kafka,
      topic: topic.name,
      batchSize: 10_000,
      lingerMs: 1_000,
      compression: "none",
      log: quiet,
      onAck: (n) => acks.push(n),
      onFail: (_n, error) => failures.push(error),
    });
    await publisher.connect();
    const value = "x".repeat(1_000);
    for (let i = 0; i < 12_000; i++) await publisher.send(`CUST-${i % 10}`, value);
    await publisher.close();
    assert.deepEqual(failures, []);
    assert.equal(publisher.acknowledged, 12_000);
    const perRequest = Math.floor(MAX_REQUEST_BYTES / (1_000 + "CUST-0".length + 16));
    assert.ok(acks.every((n) => n <= perRequest), `requests of ${acks.join(", ")} messages; at most ${perRequest} fit`);
    const admin = topic.kafka.admin();
    await admin.connect();
    try {
      assert.deepEqual((await admin.fetchTopicOffsets(topic.name)).map((p) => p.high), ["12000"]);
    } finally {
      await admin.disconnect();
    }
  },
);
