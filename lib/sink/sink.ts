/**
 * The sink, the consumer's heart: records in, validated (`prepare.ts`), grouped into batches
 * across partitions (`batcher.ts`), written (valid readings, dead letters and the episode
 * tracker's alerts) in one database transaction with retries (`writer.ts`) and bisection of
 * refused batches (`bisect.ts`), and only then acknowledged, so that the caller commits Kafka
 * offsets after the database committed.
 *
 * A partition's (and hence a customer's) records are committed in order, one transaction after
 * the other, so the episode tracker sees each customer's readings in order. Database failures
 * never lose or skip a record: connection-level errors are retried until they succeed (the sink
 * reports itself not ready meanwhile); a batch the database refuses for its data is split until
 * the one offending record is found, and that record goes to the dead-letter table.
 *
 * @module
 */
import type { AlertEvent, EpisodeTracker, TrackResult } from "../domain/episodes.ts";
import type { Validator } from "../domain/reading.ts";
import type { SourceRecord } from "../domain/source_record.ts";
import type { Logger } from "../ops/log.ts";
import type { WriteResult } from "../storage/mod.ts";
import { Batcher } from "./batcher.ts";
import { type BatchStore, writeBisecting } from "./bisect.ts";
import { prepare, PreparedRecords, type Submission } from "./prepare.ts";
import { Readiness } from "./writer.ts";

/** What one written batch contained, for metrics and logs. */
export interface BatchStats extends WriteResult {
  /** Records in the batch. */
  records: number;
  /** Milliseconds the database write took, retries included. */
  writeMs: number;
  /** Failed attempts before it succeeded. */
  retries: number;
  /** Rejection counts by reason code. */
  reasons: Record<string, number>;
  /** Readings in the batch: epoch ms of each reading's timestamp (for delay histograms). */
  readingTimesMs: number[];
  /** Episode events the batch caused (opened and closed alerts). */
  events: AlertEvent[];
}

/** Options of a {@link Sink}. */
export interface SinkOptions {
  /** Writes batches. */
  store: BatchStore;
  /** Judges each record's value. */
  validate: Validator;
  /** Records that make a batch full. */
  batchSize: number;
  /** Longest a record waits for its batch to fill, ms. */
  batchWaitMs: number;
  /** Batches written at once, each in its own transaction (default 1). */
  writers?: number;
  /** Logs retries and refusals. */
  log: Logger;
  /** Aborting it makes waiting submissions reject (used at shutdown while the database is down). */
  signal?: AbortSignal;
  /** First retry delay, ms (default 200); doubles up to {@link SinkOptions.maxRetryMs}. */
  initialRetryMs?: number;
  /** Longest retry delay, ms (default 5000). */
  maxRetryMs?: number;
  /** A write running longer than this, ms, makes the sink not ready until it ends (default 10,000). */
  stallMs?: number;
  /** Called after each batch is committed. */
  onBatch?: (stats: BatchStats) => void;
  /** Called when readiness changes (false while the database fails). */
  onReadyChange?: (ready: boolean) => void;
  /** Detects sustained episodes; its alerts are written in the batch's transaction. */
  episodes?: EpisodeTracker;
  /**
   * Called with the batch's episode events after its transaction committed and before its
   * records are acknowledged (so offsets are committed only after the events went out).
   */
  publishEvents?: (events: AlertEvent[]) => Promise<void>;
}

/**
 * Groups records into batches and writes them; see the module documentation.
 *
 * @example
 * ```ts ignore
 * const sink = new Sink({ store: repository, validate: createValidator(), batchSize: 5000, batchWaitMs: 5, writers: 2, log });
 * await sink.submit(records); // resolves once the records are committed in PostgreSQL
 * ```
 */
export class Sink {
  readonly #o: SinkOptions;
  readonly #batcher: Batcher;
  readonly #readiness: Readiness;
  #closed = false;

  /** @param options see {@link SinkOptions} */
  constructor(options: SinkOptions) {
    if (!(options.batchSize >= 1)) {
      throw new RangeError(`Cannot create sink: batchSize must be at least 1: current value is ${options.batchSize}`);
    }
    if (options.writers !== undefined && !(Number.isInteger(options.writers) && options.writers >= 1)) {
      throw new RangeError(
        `Cannot create sink: writers must be a whole number of at least 1: current value is ${options.writers}`,
      );
    }
    this.#o = options;
    this.#readiness = new Readiness({
      initialRetryMs: options.initialRetryMs ?? 200,
      maxRetryMs: options.maxRetryMs ?? 5_000,
      log: options.log,
      signal: options.signal,
      onReadyChange: options.onReadyChange,
      stallMs: options.stallMs,
    });
    this.#batcher = new Batcher({
      batchSize: options.batchSize,
      batchWaitMs: options.batchWaitMs,
      writers: options.writers ?? 1,
      write: (batch) => this.#write(batch),
    });
  }

  /** False while the database is failing; true otherwise. */
  get ready(): boolean {
    return this.#readiness.ready;
  }

  /** Records accepted but not yet committed (queued, and in the batches being written). */
  get pending(): number {
    return this.#batcher.pending;
  }

  /** Key and value bytes of the records accepted but not yet committed. */
  get pendingBytes(): number {
    return this.#batcher.pendingBytes;
  }

  /**
   * Resolves after a batch being written (or the next one) has been committed or has failed;
   * at once when nothing is queued. Callers use it for back-pressure.
   */
  written(): Promise<void> {
    return this.#batcher.written();
  }

  /**
   * Validates records and keeps what the sink needs of them, copied out of the records' buffers,
   * so that nothing queued holds a record, its Buffers or the fetch buffer they are views into.
   */
  prepare(records: readonly SourceRecord[]): PreparedRecords {
    return prepare(records, this.#o.validate);
  }

  /**
   * Validates records (unless {@link Sink.prepare} did) and queues them; resolves when every one
   * of them is committed in the database (as a reading or a dead letter). Rejects only when the
   * sink's signal aborts first.
   *
   * @param keepAlive called while waiting on a failing database (e.g. the Kafka heartbeat)
   */
  submit(records: readonly SourceRecord[] | PreparedRecords, keepAlive?: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot submit: the sink is closed"));
    const s = records instanceof PreparedRecords ? records.submission : this.prepare(records).submission;
    if (s.records === 0) return Promise.resolve();
    if (s.waiters.length > 0) return Promise.reject(new Error("Cannot submit: these records were submitted before"));
    const promise = new Promise<void>((resolve, reject) => s.waiters.push({ resolve, reject, keepAlive }));
    this.#batcher.add(s);
    return promise;
  }

  /** Writes what is pending and stops accepting records. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#batcher.drain();
  }

  /** One batch: episodes, then the write (bisecting refusals), then the events, then the stats. */
  async #write(batch: Submission): Promise<void> {
    const started = performance.now();
    const tries = this.#readiness.begin(batch.waiters.findLast((w) => w.keepAlive !== undefined)?.keepAlive);
    const episodes = this.#o.episodes;
    let tracked: TrackResult;
    let result: WriteResult;
    try {
      tracked = episodes === undefined || batch.readings.length === 0
        ? { alerts: [], events: [] }
        : await tries.attempt(() => episodes.process(batch.readings));
      result = await writeBisecting(
        this.#o.store,
        batch.readings,
        batch.deadLetters,
        tries.attempt,
        this.#o.log,
        tracked.alerts,
      );
    } finally {
      tries.end();
    }
    if (tracked.events.length > 0) await this.#o.publishEvents?.(tracked.events);
    this.#o.onBatch?.({
      ...result,
      records: batch.records,
      writeMs: performance.now() - started,
      retries: tries.retries,
      reasons: batch.reasons,
      readingTimesMs: batch.readings.map((r) => r.recordedAtMs),
      events: tracked.events,
    });
  }
}
