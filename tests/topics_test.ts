/**
 * The topics the programs create (`ensureTopic`) on the single test broker keep the broker's
 * replication: one replica, no topic-level `min.insync.replicas`. The three-broker case is in
 * tests/cluster_faults_suite.ts.
 */
import assert from "node:assert/strict";
import { ensureTopic } from "../lib/kafka/client.ts";
import { createLogger } from "../lib/ops/log.ts";
import { integrationTest, testTopic } from "./support/helpers.ts";
import { topicReplicationOf } from "./support/topics.ts";

const quiet = createLogger({ level: "error", pretty: false, write: () => {} });

integrationTest(
  "a topic created on a single broker gets one replica and the broker's min.insync.replicas",
  async () => {
    await using topic = testTopic();
    assert.equal(await ensureTopic(topic.kafka, topic.name, 6, quiet), true);
    const got = await topicReplicationOf(topic.kafka, topic.name);
    assert.deepEqual(got.replicas, [1, 1, 1, 1, 1, 1]);
    assert.equal(got.minInsyncIsTopicConfig, false, `min.insync.replicas ${got.minInsync} is the broker's`);
  },
);
