/**
 * kafkajs' `sendMessages` (the producer's request loop) rewritten to track acknowledgements per
 * partition instead of per broker: the one patch that fixes a defect rather than a cost.
 *
 * kafkajs 2.2.4 keeps one response per broker across retries and, on a retry, sends again only to
 * the brokers that have not answered. When a broker fails mid-send and its partitions' leadership
 * moves to a broker that already answered, those partitions are never sent again, yet the send
 * resolves: acknowledged messages are lost (tests/cluster_faults_suite.ts measured 26–2,292 of
 * 60,000–200,000 on a three-node cluster). It also rewinds a failed request's sequence numbers
 * and assigns them again at the next attempt, so a request the broker wrote but did not confirm
 * is followed by other messages under the same numbers: OUT_OF_ORDER_SEQUENCE_NUMBER, or a batch
 * taken for a duplicate.
 *
 * {@link partitionSafeSendMessages} keeps, for one `send`, each partition's messages, its first
 * sequence number (taken once, never rewound) and whether a broker acknowledged it. Every attempt
 * sends each unacknowledged partition, with the same messages and sequence, to its current leader;
 * the send resolves only when every partition is acknowledged. A resent batch the broker already
 * holds is answered as a duplicate (idempotence), so a retry can never write a message twice.
 *
 * @module
 */

/** A message as kafkajs' producer passes it on. */
// deno-lint-ignore no-explicit-any
type Message = any;

/** The kafkajs internals the loop needs, given by the patch installer. */
export interface SendDeps {
  /** kafkajs' `groupMessagesPerPartition` (or the patched one). */
  groupMessagesPerPartition: (args: {
    topic: string;
    partitionMetadata: unknown[];
    messages: Message[];
    partitioner: unknown;
  }) => Record<number, Message[]>;
  /** kafkajs' `staleMetadata(error)`. */
  staleMetadata: (error: unknown) => boolean;
  /** kafkajs' `KafkaJSMetadataNotLoaded` error class. */
  MetadataNotLoaded: new (message: string) => Error;
}

interface Logger {
  debug(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}

interface Broker {
  nodeId: number;
  produce(request: object): Promise<{ topics: { topicName: string; partitions: object[] }[] }>;
}

interface Cluster {
  refreshMetadataIfNecessary(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  findTopicPartitionMetadata(topic: string): { partitionId: number; leader?: number | null }[];
  findBroker(args: { nodeId: string | number }): Promise<Broker>;
  removeBroker(args: { host: string; port: number }): void;
  isConnected(): boolean;
  connect(): Promise<void>;
}

interface EosManager {
  isTransactional(): boolean;
  getTransactionalId(): string;
  getProducerId(): number;
  getProducerEpoch(): number;
  getSequence(topic: string, partition: number): number;
  updateSequence(topic: string, partition: number, increment: number): void;
  addPartitionsToTransaction(topicData: object[]): Promise<void>;
  acquireBrokerLock(broker: Broker): Promise<void>;
  releaseBrokerLock(broker: Broker): Promise<void>;
}

type Retrier = <T>(fn: (bail: (e: unknown) => void, retryCount: number, retryTime: number) => Promise<T>) => Promise<T>;

/** What kafkajs' producer gives `createSendMessages`. */
export interface SendContext {
  logger: Logger;
  cluster: Cluster;
  partitioner: unknown;
  eosManager: EosManager;
  retrier: Retrier;
}

/** One `sendMessages` call's request. */
export interface SendRequest {
  acks: number;
  timeout?: number;
  compression?: number;
  topicMessages: { topic: string; messages: Message[] }[];
}

/** One partition of one send: its messages, its first sequence once sent, its acknowledgement. */
interface PartitionSend {
  topic: string;
  partition: number;
  messages: Message[];
  firstSequence?: number;
  acked: boolean;
  response?: object;
}

/** A retriable error for partitions that have no leader in the metadata yet. */
class LeaderUnknown extends Error {
  override name = "KafkaJSMetadataNotLoaded";
  readonly retriable = true;
}

/**
 * A drop-in replacement for kafkajs 2.2.4's `src/producer/sendMessages.js` factory.
 *
 * @param deps kafkajs' own helpers (see {@link SendDeps})
 * @returns the factory kafkajs' message producer calls with its context
 */
export function partitionSafeSendMessages(
  deps: SendDeps,
): (context: SendContext) => (r: SendRequest) => Promise<object[]> {
  return ({ logger, cluster, partitioner, eosManager, retrier }) =>
  async ({ acks, timeout, compression, topicMessages }) => {
    const topics = topicMessages.map(({ topic }) => topic);
    let plan: PartitionSend[] | undefined;

    /** Groups the messages by partition, once: a retry must resend exactly the same batches. */
    const makePlan = (): PartitionSend[] => {
      const sends: PartitionSend[] = [];
      for (const { topic, messages } of topicMessages) {
        const partitionMetadata = cluster.findTopicPartitionMetadata(topic);
        if (partitionMetadata.length === 0) {
          logger.debug("Producing to topic without metadata", { topic });
          throw new deps.MetadataNotLoaded("Producing to topic without metadata");
        }
        const grouped = deps.groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner });
        for (const [partition, partitionMessages] of Object.entries(grouped)) {
          sends.push({ topic, partition: Number(partition), messages: partitionMessages, acked: false });
        }
      }
      return sends;
    };

    /** Sends each unacknowledged partition to its leader; settles when every request has. */
    const attempt = async (sends: PartitionSend[]): Promise<void> => {
      const perLeader = new Map<number, PartitionSend[]>();
      for (const send of sends) {
        if (send.acked) continue;
        const leader = cluster.findTopicPartitionMetadata(send.topic).find((p) => p.partitionId === send.partition)
          ?.leader;
        if (leader === undefined || leader === null || leader < 0) {
          throw new LeaderUnknown(`No leader known for ${send.topic}[${send.partition}]`);
        }
        perLeader.set(leader, [...perLeader.get(leader) ?? [], send]);
      }
      const results = await Promise.allSettled(
        [...perLeader].map(async ([nodeId, partitionSends]) => {
          const broker = await cluster.findBroker({ nodeId });
          await produceTo(broker, partitionSends);
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    };

    const produceTo = async (broker: Broker, partitionSends: PartitionSend[]): Promise<void> => {
      const byTopic = new Map<string, PartitionSend[]>();
      for (const send of partitionSends) byTopic.set(send.topic, [...byTopic.get(send.topic) ?? [], send]);
      await eosManager.acquireBrokerLock(broker);
      try {
        const topicData = [...byTopic].map(([topic, list]) => ({
          topic,
          partitions: list.map((send) => {
            if (send.firstSequence === undefined) {
              // taken once per batch and never given back: a resend carries the same numbers
              send.firstSequence = eosManager.getSequence(send.topic, send.partition);
              eosManager.updateSequence(send.topic, send.partition, send.messages.length);
            }
            return { partition: send.partition, firstSequence: send.firstSequence, messages: send.messages };
          }),
        }));
        if (eosManager.isTransactional()) await eosManager.addPartitionsToTransaction(topicData);
        const response = await broker.produce({
          transactionalId: eosManager.isTransactional() ? eosManager.getTransactionalId() : undefined,
          producerId: eosManager.getProducerId(),
          producerEpoch: eosManager.getProducerEpoch(),
          acks,
          timeout,
          compression,
          topicData,
        });
        const answers = new Map<string, object>();
        if (acks !== 0) {
          for (const { topicName, partitions } of response.topics) {
            for (const p of partitions as { partition: number }[]) {
              answers.set(`${topicName}\0${p.partition}`, { topicName, ...p });
            }
          }
        }
        for (const send of partitionSends) {
          send.acked = true;
          const answer = answers.get(`${send.topic}\0${send.partition}`);
          if (answer !== undefined) send.response = answer;
        }
      } finally {
        await eosManager.releaseBrokerLock(broker);
      }
    };

    return await retrier(async (bail, retryCount, retryTime) => {
      await cluster.addMultipleTargetTopics(topics);
      try {
        await cluster.refreshMetadataIfNecessary();
        plan ??= makePlan();
        await attempt(plan);
        return plan.flatMap((send) => send.response === undefined ? [] : [send.response]);
      } catch (e) {
        const error = e as { name?: string; message?: string; host?: string; port?: number; retriable?: boolean };
        if (error.name === "KafkaJSConnectionClosedError" && error.host !== undefined && error.port !== undefined) {
          cluster.removeBroker({ host: error.host, port: error.port });
        }
        if (!cluster.isConnected()) {
          logger.debug(`Cluster has disconnected, reconnecting: ${error.message}`, { retryCount, retryTime });
          await cluster.connect();
          await cluster.refreshMetadata();
          throw e;
        }
        if (
          deps.staleMetadata(e) || error.name === "KafkaJSMetadataNotLoaded" ||
          error.name === "KafkaJSConnectionError" || error.name === "KafkaJSConnectionClosedError" ||
          (error.name === "KafkaJSProtocolError" && error.retriable)
        ) {
          logger.error(`Failed to send messages: ${error.message}`, { retryCount, retryTime });
          await cluster.refreshMetadata();
          throw e;
        }
        logger.error(`${error.message}`, { retryCount, retryTime });
        if (error.retriable) {
          // a request timeout (a frozen leader) is often a leader that moved: look before trying again
          await cluster.refreshMetadata().catch(() => {});
          throw e;
        }
        bail(e);
        return [];
      }
    });
  };
}
