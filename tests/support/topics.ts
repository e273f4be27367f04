/**
 * What a test reads of a topic's replication on whichever broker or cluster its client talks to.
 *
 * Requires `--allow-net` of the client's brokers.
 *
 * @module
 */
import "../../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import type { Kafka } from "../../lib/kafka/client.ts";

/** A topic's replication: replicas per partition and its `min.insync.replicas` (value and whether the topic sets it). */
export async function topicReplicationOf(
  kafka: Kafka,
  topic: string,
): Promise<{ replicas: number[]; minInsync: string | undefined; minInsyncIsTopicConfig: boolean }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    const replicas = meta.topics[0]?.partitions.map((p) => p.replicas.length) ?? [];
    const configs = await admin.describeConfigs({
      resources: [{ type: 2, /* TOPIC */ name: topic, configNames: ["min.insync.replicas"] }],
      includeSynonyms: false,
    });
    const entry = configs.resources[0]?.configEntries.find((e) => e.configName === "min.insync.replicas");
    return {
      replicas,
      minInsync: entry?.configValue,
      minInsyncIsTopicConfig: entry !== undefined && !entry.isDefault &&
        (entry as { configSource?: number }).configSource === 1, /* TOPIC_CONFIG */
    };
  } finally {
    await admin.disconnect();
  }
}
