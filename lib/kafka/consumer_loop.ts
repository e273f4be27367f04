/**
 * The consumer loop: a kafkajs consumer-group member that hands each fetched partition batch to
 * the sink (`batch_handler.ts`) and commits the partition's offset only after the sink has
 * committed the batch in PostgreSQL. Offsets are never auto-committed. It reports the group's
 * life (assignment, answers from the broker, crashes, disconnects) through hooks the caller
 * gives, and on stop finishes the batches in hand, commits and leaves the group.
 *
 * Pipelined: a partition batch's handler returns once its records are queued in the sink, so
 * kafkajs fetches the next records while the database writes the previous ones. The offset
 * commits of a partition run in a chain, each after its own batch and every earlier batch of the
 * partition are committed in the database, so a committed offset never passes a record that is
 * not stored (the sink's writers may finish batches out of order). At most `maxPendingRecords`
 * records and `maxPendingBytes` bytes wait in the sink: past that, the handler waits. A batch the
 * sink could not store (only on a stop while the database is down) breaks its partition's chain:
 * nothing later of that partition is committed by this process.
 *
 * Requires `--allow-net=<brokers>` (kafkajs) and whatever the sink's store needs.
 *
 * @module
 */
import type { Consumer } from "kafkajs";
import type { Logger } from "../ops/log.ts";
import { retryRetriable } from "./retriable.ts";
import { BatchHandler, type RecordSink } from "./batch_handler.ts";
import type { Kafka } from "./client.ts";

/** What the consumer loop reports, for metrics and readiness (each optional). */
export interface ConsumerHooks {
  /** Called when partitions are assigned or revoked, with the assigned set. */
  onAssignment?: (partitions: number[]) => void;
  /** Called with each partition's lag (high watermark minus next offset) after a batch. */
  onLag?: (partition: number, lag: number) => void;
  /** Called after each committed partition batch. */
  onCommit?: (partition: number, nextOffset: string) => void;
  /** Called whenever the broker answers: a fetch, a heartbeat, an offset commit, a group join. */
  onAlive?: () => void;
  /** Called when the consumer disconnects (on stop, and after a crash before kafkajs restarts it). */
  onDisconnect?: () => void;
  /** Called when the consumer crashes, with whether kafkajs restarts it. */
  onCrash?: (restart: boolean) => void;
}

/** Options of {@link startConsumer}. */
export interface ConsumeOptions<P = unknown> extends ConsumerHooks {
  /** kafkajs client. */
  kafka: Kafka;
  /** Topic to read. */
  topic: string;
  /** Consumer group id. */
  groupId: string;
  /** With no committed offset, start at the oldest record (true) or the newest (false). */
  fromBeginning: boolean;
  /** The sink that stores records. */
  sink: RecordSink<P>;
  /** Logger. */
  log: Logger;
  /** Most compressed bytes a fetch takes from one partition (default 64 KiB); a fetch takes at most 8 times that. */
  fetchBytes?: number;
  /** Session timeout in ms (default 30 s): how long a silent member keeps its partitions. */
  sessionTimeoutMs?: number;
  /**
   * Most records accepted from Kafka and not yet committed in the database before the consumer
   * stops fetching (default 15,000).
   */
  maxPendingRecords?: number;
  /**
   * Most key and value bytes accepted from Kafka and not yet committed before the consumer stops
   * fetching (default 32 MiB): bounds memory when records are large (hostile ones included).
   */
  maxPendingBytes?: number;
  /** Testing only: ms to pause between the database commit and the offset commit (0 = never). */
  pauseAfterDbCommitMs?: number;
}

/** A running consumer; {@link RunningConsumer.stop} stops it gracefully. */
export interface RunningConsumer {
  /** The kafkajs consumer. */
  consumer: Consumer;
  /** Finishes the batch in hand, commits its offsets, leaves the group and disconnects. */
  stop(): Promise<void>;
}

/**
 * Connects, subscribes and starts consuming. Returns once the consumer runs.
 *
 * @example
 * ```ts ignore
 * const running = await startConsumer({ kafka, topic: "heartbeat-readings", groupId: "heartbeat-consumer", fromBeginning: true, sink, log });
 * await shutdownSignalled;
 * await running.stop();
 * ```
 */
export async function startConsumer<P>(options: ConsumeOptions<P>): Promise<RunningConsumer> {
  const { kafka, topic, groupId, log } = options;
  const fetchBytes = options.fetchBytes ?? 65_536;
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    rebalanceTimeout: 60_000,
    heartbeatInterval: 3_000,
    // what a fetch holds stays in memory until its records are committed: docs/performance.md
    maxBytesPerPartition: fetchBytes,
    maxBytes: 8 * fetchBytes,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: Number.MAX_SAFE_INTEGER },
  });
  watchGroup(consumer, topic, groupId, log, options);
  await consumer.connect();
  // kafkajs does not retry subscribe, and a topic created a moment ago can still be unknown here
  await retryRetriable(() => consumer.subscribe({ topic, fromBeginning: options.fromBeginning }), {
    log,
    message: "topic not known to the broker yet; subscribing again",
    fields: { topic },
  });

  const handler = new BatchHandler({
    sink: options.sink,
    commit: (partition, offset) => consumer.commitOffsets([{ topic, partition, offset }]),
    log,
    maxPendingRecords: options.maxPendingRecords ?? 15_000,
    maxPendingBytes: options.maxPendingBytes ?? 32 * 1024 * 1024,
    onLag: options.onLag,
    onCommit: options.onCommit,
    pauseAfterDbCommitMs: options.pauseAfterDbCommitMs,
  });
  // A stop first lets the partition batches in hand finish (stored, then offsets committed), and
  // takes no new ones; only then does it leave the group. Disconnecting first would leave stored
  // records with uncommitted offsets (harmless, they would be skipped, but not a clean stop).
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 16,
    eachBatch: handler.eachBatch,
  });

  return {
    consumer,
    async stop() {
      await handler.stop();
      await consumer.disconnect();
    },
  };
}

/** Reports the group's life to the hooks: assignment, the broker's answers, crashes, disconnects. */
function watchGroup(consumer: Consumer, topic: string, groupId: string, log: Logger, hooks: ConsumerHooks): void {
  const assigned = new Set<number>();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    assigned.clear();
    for (const p of payload.memberAssignment[topic] ?? []) assigned.add(p);
    log.info("joined group", { groupId, partitions: [...assigned].sort((a, b) => a - b) });
    hooks.onAssignment?.([...assigned]);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    log.error("kafka consumer crashed; kafkajs restarts it", { error: payload.error, restart: payload.restart });
    hooks.onCrash?.(payload.restart);
  });
  // readiness: any answer from the broker shows the connection works
  const alive = () => hooks.onAlive?.();
  consumer.on(consumer.events.GROUP_JOIN, alive);
  consumer.on(consumer.events.FETCH, alive);
  consumer.on(consumer.events.HEARTBEAT, alive);
  consumer.on(consumer.events.COMMIT_OFFSETS, alive);
  consumer.on(consumer.events.DISCONNECT, () => {
    assigned.clear();
    hooks.onAssignment?.([]);
    hooks.onDisconnect?.();
  });
}
