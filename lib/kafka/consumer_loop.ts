/**
 * The consumer loop: a kafkajs consumer-group member that hands each fetched partition batch to
 * the {@link Sink} and commits the partition's offset only after the sink has committed the batch
 * in PostgreSQL. Offsets are never auto-committed. On stop it finishes the batches in hand, commits
 * and leaves the group.
 *
 * Pipelined: a partition batch's handler returns once its records are queued in the sink, so
 * kafkajs fetches the next records while the database writes the previous ones. The offset
 * commits of a partition run in a chain, each after its own batch and every earlier batch of the
 * partition are committed in the database, so a committed offset never passes a record that is
 * not stored (the sink's writers may finish batches out of order). At most `maxPendingRecords`
 * records and `maxPendingBytes` bytes wait in the sink: past that, the handler waits
 * (back-pressure, which also bounds memory; a waiting handler holds its own batch, at most one
 * fetch's worth across partitions, which kafkajs keeps until the handler returns). A batch the
 * sink could not store (only on a stop while the database is down) breaks its partition's chain:
 * nothing later of that partition is committed by this process.
 *
 * Requires `--allow-net=<brokers>` (kafkajs) and whatever the sink's store needs.
 *
 * @module
 */
import type { Consumer, EachBatchPayload } from "kafkajs";
import type { Kafka } from "./client.ts";
import { toSinkRecord } from "./client.ts";
import type { Logger } from "../ops/log.ts";
import type { Sink, SinkRecord } from "../sink/sink.ts";
import { CommitChains } from "./commit_chain.ts";

/** Options of {@link startConsumer}. */
export interface ConsumeOptions {
  /** kafkajs client. */
  kafka: Kafka;
  /** Topic to read. */
  topic: string;
  /** Consumer group id. */
  groupId: string;
  /** With no committed offset, start at the oldest record (true) or the newest (false). */
  fromBeginning: boolean;
  /** The sink that stores records. */
  sink: Sink;
  /** Logger. */
  log: Logger;
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
export async function startConsumer(options: ConsumeOptions): Promise<RunningConsumer> {
  const { kafka, topic, groupId, sink, log } = options;
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
  const assigned = new Set<number>();
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    assigned.clear();
    for (const p of payload.memberAssignment[topic] ?? []) assigned.add(p);
    log.info("joined group", { groupId, partitions: [...assigned].sort((a, b) => a - b) });
    options.onAssignment?.([...assigned]);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    log.error("kafka consumer crashed; kafkajs restarts it", { error: payload.error, restart: payload.restart });
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => options.onCrash?.(payload.restart));
  // readiness: any answer from the broker shows the connection works
  const alive = () => options.onAlive?.();
  consumer.on(consumer.events.GROUP_JOIN, alive);
  consumer.on(consumer.events.FETCH, alive);
  consumer.on(consumer.events.HEARTBEAT, alive);
  consumer.on(consumer.events.COMMIT_OFFSETS, alive);
  consumer.on(consumer.events.DISCONNECT, () => {
    assigned.clear();
    options.onAssignment?.([]);
    options.onDisconnect?.();
  });

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: options.fromBeginning });

  let stopping = false;
  /** Handlers running. */
  const inFlight = new Set<Promise<void>>();
  const maxPending = options.maxPendingRecords ?? 15_000;
  const maxPendingBytes = options.maxPendingBytes ?? 32 * 1024 * 1024;
  const sinkFull = () => sink.pending >= maxPending || sink.pendingBytes >= maxPendingBytes;
  /** Offset commits waiting for the database, in order per partition. */
  const commits = new CommitChains();

  /** Commits `partition` past `last` (its batch and all before it are stored by now). */
  const commitStored = async (partition: number, last: string, highWatermark: string) => {
    if (options.pauseAfterDbCommitMs) {
      // the fault tests kill the process here: stored in the database, offsets not yet committed
      log.warn("failpoint: paused between the database commit and the offset commit", {
        partition,
        lastOffset: last,
        pauseMs: options.pauseAfterDbCommitMs,
      });
      await new Promise((r) => setTimeout(r, options.pauseAfterDbCommitMs));
    }
    const next = (BigInt(last) + 1n).toString();
    try {
      await consumer.commitOffsets([{ topic, partition, offset: next }]);
      options.onCommit?.(partition, next);
    } catch (error) {
      // e.g. a rebalance took the partition away: the next owner re-reads from the last commit and
      // the database skips what is already stored
      log.warn("offset commit failed; the records will be redelivered and skipped", { partition, error });
    }
    const lag = BigInt(highWatermark) - BigInt(next);
    options.onLag?.(partition, Number(lag < 0n ? 0n : lag));
  };

  /**
   * The heartbeat of the latest batch, for the sink to call while it retries a failing database.
   * kafkajs' heartbeat closes over its whole batch: holding one per queued submission would keep
   * every queued batch's messages alive until its commit, so the sink gets this one instead.
   */
  let latestHeartbeat: (() => Promise<void>) | undefined;
  const keepAlive = () => latestHeartbeat?.() ?? Promise.resolve();

  /** Queues the offset commit of `partition` past `last`, after the sink stored the batch. */
  const queueCommit = (partition: number, stored: Promise<void>, last: string, highWatermark: string) => {
    // a function of its own, so that these closures hold three strings and not the batch
    commits.add(partition, stored, () => commitStored(partition, last, highWatermark), (error) => {
      // only a stop while the database is down gets here: commit nothing, the records come again
      log.warn("batch not stored; its offsets stay uncommitted", { partition, error });
    });
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    latestHeartbeat = heartbeat;
    // validated before waiting for room: the CPU work overlaps the database's, and the submission
    // is queued at once when room frees (kafkajs keeps its messages until this handler returns)
    const { topic: batchTopic, partition, highWatermark, messages } = batch;
    const records = new Array<SinkRecord>(messages.length);
    for (let i = 0; i < messages.length; i++) records[i] = toSinkRecord(batchTopic, partition, messages[i]!);
    const last = messages[messages.length - 1]!.offset;
    const prepared = sink.prepare(records);
    // back-pressure: wait while the sink holds enough (heartbeating: the database may be down)
    while (sinkFull() && isRunning() && !isStale() && !stopping) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([sink.written(), new Promise((r) => timer = setTimeout(r, 1_000))]);
      clearTimeout(timer);
      await heartbeat().catch(() => {});
    }
    if (!isRunning() || isStale() || stopping) return;
    const stored = sink.submit(prepared, keepAlive);
    // kafkajs fetches from past here next; with autoCommit off, resolving commits nothing
    payload.resolveOffset(last);
    queueCommit(partition, stored, last, highWatermark);
  };

  // A stop first lets the partition batches in hand finish (stored, then offsets committed), and
  // takes no new ones; only then does it leave the group. Disconnecting first would leave stored
  // records with uncommitted offsets (harmless, they would be skipped, but not a clean stop).
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 16,
    eachBatch: (payload) => {
      if (stopping) return Promise.resolve();
      const handled = eachBatch(payload);
      inFlight.add(handled);
      return handled.finally(() => inFlight.delete(handled));
    },
  });

  return {
    consumer,
    async stop() {
      stopping = true;
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      await commits.settled();
      await consumer.disconnect();
    },
  };
}
