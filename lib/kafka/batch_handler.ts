/**
 * The consumer's `eachBatch` handler: a fetched partition batch becomes source records, is
 * validated by the sink, waits for room while the sink holds enough (back-pressure, which also
 * bounds memory), is queued in the sink, and its offset commit is chained after the sink stored
 * it (`commit_chain.ts`): a committed offset never passes a record that is not stored.
 *
 * The handler returns once its records are queued, so kafkajs fetches the next records while the
 * database writes the previous ones. A waiting handler holds its own batch (kafkajs keeps a
 * batch's messages until its handler returns): at most one fetch's worth across partitions.
 *
 * @module
 */
import type { EachBatchPayload, KafkaMessage } from "kafkajs";
import type { SourceRecord } from "../domain/source_record.ts";
import type { Logger } from "../ops/log.ts";
import { CommitChains } from "./commit_chain.ts";

/**
 * What the handler needs of the sink: it validates records into a prepared form, queues them
 * (resolving once they are stored) and says how much it holds.
 */
export interface RecordSink<P> {
  /** Validates records and keeps what the sink needs of them. */
  prepare(records: readonly SourceRecord[]): P;
  /** Queues prepared records; resolves once every one of them is committed in the database. */
  submit(prepared: P, keepAlive?: () => Promise<void>): Promise<void>;
  /** Records accepted and not yet committed. */
  readonly pending: number;
  /** Key and value bytes accepted and not yet committed. */
  readonly pendingBytes: number;
  /** Resolves after the next batch is committed (or failed). */
  written(): Promise<void>;
}

/** Options of {@link BatchHandler}. */
export interface BatchHandlerOptions<P> {
  /** The sink records go to. */
  sink: RecordSink<P>;
  /** Commits a partition's offset (the consumer's `commitOffsets`). */
  commit: (partition: number, offset: string) => Promise<void>;
  /** Logger. */
  log: Logger;
  /** Most records in the sink before the handler waits. */
  maxPendingRecords: number;
  /** Most key and value bytes in the sink before the handler waits. */
  maxPendingBytes: number;
  /** Called with each partition's lag (high watermark minus next offset) after a commit. */
  onLag?: ((partition: number, lag: number) => void) | undefined;
  /** Called after each committed partition batch. */
  onCommit?: ((partition: number, nextOffset: string) => void) | undefined;
  /** Testing only: ms to pause between the database commit and the offset commit (0 = never). */
  pauseAfterDbCommitMs?: number | undefined;
}

/** Converts a kafkajs message to the pipeline's source record. */
export function toSourceRecord(topic: string, partition: number, message: KafkaMessage): SourceRecord {
  const ts = Number(message.timestamp);
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    timestampMs: Number.isFinite(ts) && ts >= 0 ? ts : null,
  };
}

/** Handles fetched batches: see the module documentation. */
export class BatchHandler<P> {
  readonly #o: BatchHandlerOptions<P>;
  /** Offset commits waiting for the database, in order per partition. */
  readonly #commits = new CommitChains();
  /** Handlers running. */
  readonly #inFlight = new Set<Promise<void>>();
  #stopping = false;
  /**
   * The heartbeat of the latest batch, for the sink to call while it retries a failing database.
   * kafkajs' heartbeat closes over its whole batch: holding one per queued submission would keep
   * every queued batch's messages alive until its commit, so the sink gets this one instead.
   */
  #latestHeartbeat: (() => Promise<void>) | undefined;
  readonly #keepAlive = () => this.#latestHeartbeat?.() ?? Promise.resolve();

  /** @param options see {@link BatchHandlerOptions} */
  constructor(options: BatchHandlerOptions<P>) {
    this.#o = options;
  }

  /** The `eachBatch` function to give kafkajs. */
  readonly eachBatch = (payload: EachBatchPayload): Promise<void> => {
    if (this.#stopping) return Promise.resolve();
    const handled = this.#handle(payload);
    this.#inFlight.add(handled);
    return handled.finally(() => this.#inFlight.delete(handled));
  };

  /** Takes no new batch, lets those in hand finish and waits for their offset commits. */
  async stop(): Promise<void> {
    this.#stopping = true;
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    await this.#commits.settled();
  }

  #full(): boolean {
    const { sink, maxPendingRecords, maxPendingBytes } = this.#o;
    return sink.pending >= maxPendingRecords || sink.pendingBytes >= maxPendingBytes;
  }

  async #handle(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    this.#latestHeartbeat = heartbeat;
    // validated before waiting for room: the CPU work overlaps the database's, and the submission
    // is queued at once when room frees (kafkajs keeps its messages until this handler returns)
    const { topic, partition, highWatermark, messages } = batch;
    const records = new Array<SourceRecord>(messages.length);
    for (let i = 0; i < messages.length; i++) records[i] = toSourceRecord(topic, partition, messages[i]!);
    const last = messages[messages.length - 1]!.offset;
    const prepared = this.#o.sink.prepare(records);
    // back-pressure: wait while the sink holds enough (heartbeating: the database may be down)
    while (this.#full() && isRunning() && !isStale() && !this.#stopping) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#o.sink.written(), new Promise((r) => timer = setTimeout(r, 1_000))]);
      clearTimeout(timer);
      await heartbeat().catch(() => {});
    }
    if (!isRunning() || isStale() || this.#stopping) return;
    const stored = this.#o.sink.submit(prepared, this.#keepAlive);
    // kafkajs fetches from past here next; with autoCommit off, resolving commits nothing
    payload.resolveOffset(last);
    this.#queueCommit(partition, stored, last, highWatermark);
  }

  /** Queues the offset commit of `partition` past `last`, after the sink stored the batch. */
  #queueCommit(partition: number, stored: Promise<void>, last: string, highWatermark: string): void {
    // a method of its own, so that these closures hold three strings and not the batch
    this.#commits.add(partition, stored, () => this.#commitStored(partition, last, highWatermark), (error) => {
      // only a stop while the database is down gets here: commit nothing, the records come again
      this.#o.log.warn("batch not stored; its offsets stay uncommitted", { partition, error });
    });
  }

  /** Commits `partition` past `last` (its batch and all before it are stored by now). */
  async #commitStored(partition: number, last: string, highWatermark: string): Promise<void> {
    const pauseMs = this.#o.pauseAfterDbCommitMs;
    if (pauseMs) {
      // the fault tests kill the process here: stored in the database, offsets not yet committed
      this.#o.log.warn("failpoint: paused between the database commit and the offset commit", {
        partition,
        lastOffset: last,
        pauseMs,
      });
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    const next = (BigInt(last) + 1n).toString();
    try {
      await this.#o.commit(partition, next);
      this.#o.onCommit?.(partition, next);
    } catch (error) {
      // e.g. a rebalance took the partition away: the next owner re-reads from the last commit and
      // the database skips what is already stored
      this.#o.log.warn("offset commit failed; the records will be redelivered and skipped", { partition, error });
    }
    const lag = BigInt(highWatermark) - BigInt(next);
    this.#o.onLag?.(partition, Number(lag < 0n ? 0n : lag));
  }
}
