import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { partitionSafeSendMessages, type SendContext, type SendDeps } from "./send.ts";

const require = createRequire(import.meta.url);
const kafkajs = (path: string) => require(fileURLToPath(import.meta.resolve(`kafkajs/src/${path}`)));
const createRetry = kafkajs("retry/index.js");
const { KafkaJSMetadataNotLoaded, KafkaJSConnectionClosedError, KafkaJSNonRetriableError } = kafkajs("errors.js");
const { staleMetadata } = kafkajs("protocol/error.js");
const kafkajsSendMessages = kafkajs("producer/sendMessages.js");

const DEPS: SendDeps = {
  groupMessagesPerPartition: ({ messages }) => {
    const grouped: Record<number, unknown[]> = {};
    for (const m of messages) (grouped[m.partition] ??= []).push(m);
    return grouped;
  },
  staleMetadata,
  MetadataNotLoaded: KafkaJSMetadataNotLoaded,
};

/** What a broker does with one produce request: answer it, or throw. */
type Behaviour = "answer" | Error;

interface Produced {
  nodeId: number;
  partitions: { partition: number; firstSequence: number; count: number }[];
}

/**
 * A cluster of fake brokers for the loop's logic: `leaders` gives each partition's leader per
 * metadata version (a refresh moves to the next), `script` what each broker does with its n-th
 * request. Records every request that reached a broker.
 */
function fakeCluster(leaders: number[][], script: Record<number, Behaviour[]>) {
  let version = 0;
  const produced: Produced[] = [];
  const sequences = new Map<number, number>();
  const served = new Map<number, number>();
  const brokers = new Map<number, object>();
  const cluster = {
    refreshMetadataIfNecessary: () => Promise.resolve(),
    refreshMetadata: () => {
      version = Math.min(version + 1, leaders.length - 1);
      return Promise.resolve();
    },
    addMultipleTargetTopics: () => Promise.resolve(),
    findTopicPartitionMetadata: () => leaders[version]!.map((leader, partitionId) => ({ partitionId, leader })),
    // kafkajs' own loop asks for this (the patched one reads the metadata itself)
    findLeaderForPartitions: (_topic: string, partitions: string[]) => {
      const perLeader: Record<number, number[]> = {};
      for (const p of partitions) (perLeader[leaders[version]![Number(p)]!] ??= []).push(Number(p));
      return perLeader;
    },
    // the same Broker object per node, as kafkajs' broker pool gives
    findBroker: ({ nodeId }: { nodeId: string | number }) => {
      const id = Number(nodeId);
      if (!brokers.has(id)) brokers.set(id, makeBroker(id));
      return Promise.resolve(brokers.get(id)!);
    },
    removeBroker: () => {},
    isConnected: () => true,
    connect: () => Promise.resolve(),
  };
  function makeBroker(id: number) {
    return {
      nodeId: id,
      produce: (
        request: { topicData: { partitions: { partition: number; firstSequence: number; messages: unknown[] }[] }[] },
      ) => {
        const n = served.get(id) ?? 0;
        served.set(id, n + 1);
        const partitions = request.topicData.flatMap((t) =>
          t.partitions.map((p) => ({
            partition: p.partition,
            firstSequence: p.firstSequence,
            count: p.messages.length,
          }))
        );
        produced.push({ nodeId: id, partitions });
        const behaviour = script[id]?.[n] ?? "answer";
        if (behaviour !== "answer") return Promise.reject(behaviour);
        return Promise.resolve({
          topics: [{ topicName: "t", partitions: partitions.map((p) => ({ partition: p.partition, errorCode: 0 })) }],
        });
      },
    };
  }
  const eosManager = {
    isTransactional: () => false,
    getTransactionalId: () => "",
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
    getSequence: (_topic: string, partition: number) => sequences.get(partition) ?? 0,
    updateSequence: (_topic: string, partition: number, increment: number) =>
      void sequences.set(partition, (sequences.get(partition) ?? 0) + increment),
    addPartitionsToTransaction: () => Promise.resolve(),
    acquireBrokerLock: () => Promise.resolve(),
    releaseBrokerLock: () => Promise.resolve(),
  };
  const logger = { debug: () => {}, error: () => {}, info: () => {}, warn: () => {} };
  const retrier = createRetry({ initialRetryTime: 1, maxRetryTime: 2, retries: 5 });
  const context = { logger, cluster, partitioner: null, eosManager, retrier } as unknown as SendContext;
  return { context, produced, sequences };
}

/** Two messages for each of partitions 0..3. */
const MESSAGES = [0, 1, 2, 3].flatMap((partition) => [{ partition, value: "a" }, { partition, value: "b" }]);
const REQUEST = { acks: -1, topicMessages: [{ topic: "t", messages: MESSAGES }] };

const closed = () => new KafkaJSConnectionClosedError("Closed connection", { host: "h", port: 1 });

Deno.test("a partition whose leader failed mid-send is sent again to its new leader, even one that already answered", async () => {
  // partitions 0,1 on broker 1 and 2,3 on broker 2; broker 1 dies, its partitions move to broker 2
  const run = fakeCluster([[1, 1, 2, 2], [2, 2, 2, 2]], { 1: [closed()] });
  const result = await partitionSafeSendMessages(DEPS)(run.context)(REQUEST);
  assert.deepEqual(result.map((r) => (r as { partition: number }).partition).sort(), [0, 1, 2, 3]);
  const last = run.produced.at(-1)!;
  assert.equal(last.nodeId, 2);
  assert.deepEqual(last.partitions.map((p) => p.partition), [0, 1]);
});

Deno.test("kafkajs' own loop loses those partitions: the defect the patch exists for", async () => {
  const run = fakeCluster([[1, 1, 2, 2], [2, 2, 2, 2]], { 1: [closed()] });
  const partitioner = ({ message }: { message: { partition: number } }) => message.partition;
  const send = kafkajsSendMessages({ ...run.context, partitioner });
  const result: { partition: number }[] = await send(REQUEST);
  assert.deepEqual(result.map((r) => r.partition).sort(), [2, 3]);
});

Deno.test("a resent batch keeps its sequence numbers; each partition's sequence advances once per batch", async () => {
  // broker 2 fails twice after (maybe) writing; the same batches go again with the same numbers
  const run = fakeCluster([[1, 1, 2, 2]], { 2: [closed(), closed()] });
  const send = partitionSafeSendMessages(DEPS)(run.context);
  await send(REQUEST);
  await send(REQUEST);
  const sent = run.produced.flatMap((r) => r.partitions).filter((p) => p.partition === 2);
  assert.deepEqual(sent.map((p) => p.firstSequence), [0, 0, 0, 2]);
  assert.deepEqual([...run.sequences].sort(), [[0, 4], [1, 4], [2, 4], [3, 4]]);
});

Deno.test("a partition with no leader in the metadata is retried after a refresh, never skipped", async (t) => {
  const cases: [string, number[][]][] = [
    ["leader -1 (an election)", [[1, 1, -1, 2], [1, 1, 2, 2]]],
    ["leader null", [[1, 1, null as unknown as number, 2], [1, 1, 1, 2]]],
  ];
  for (const [name, leaders] of cases) {
    await t.step(name, async () => {
      const run = fakeCluster(leaders, {});
      const result = await partitionSafeSendMessages(DEPS)(run.context)(REQUEST);
      assert.equal(result.length, 4);
      assert.equal(run.produced.flatMap((r) => r.partitions).filter((p) => p.partition === 2).length, 1);
    });
  }
});

Deno.test("a non-retriable error fails the send at once, without a retry", async () => {
  const run = fakeCluster([[1, 1, 2, 2]], { 1: [new KafkaJSNonRetriableError("no")] });
  await assert.rejects(partitionSafeSendMessages(DEPS)(run.context)(REQUEST), /no/);
  assert.equal(run.produced.filter((r) => r.nodeId === 1).length, 1);
});
