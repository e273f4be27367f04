/**
 * The sink, the consumer's heart: records in, validated, grouped into batches, written (valid
 * readings and dead letters) in one database transaction, and only then acknowledged, so that the
 * caller commits Kafka offsets after the database committed.
 *
 * Batches from several partitions are grouped ("group commit"): a batch is written when it holds
 * `batchSize` records or its oldest record has waited `batchWaitMs`. Up to `writers` batches are
 * written at once, each in its own transaction on its own connection, so the database works on one
 * while the other commits; records keep being validated meanwhile. Two batches in flight never
 * hold the same partition: a submission waits while an earlier one of its partition is being
 * written, so a partition's (and hence a customer's) records are committed in order, one
 * transaction after the other, and the episode tracker sees each customer's readings in order.
 *
 * Database failures never lose or skip a record: connection-level errors are retried with
 * exponential backoff until they succeed (the sink reports itself not ready meanwhile); a batch
 * that the database refuses for its data is split in halves until the one offending record is
 * found, and that record goes to the dead-letter table (`rejected_by_database`). A value the
 * repository cannot even encode (`UnencodableRowError`, SQLSTATE 22000) is handled the same way.
 *
 * @module
 */
import type { Alert, AlertEvent, EpisodeTracker, TrackResult } from "../domain/episodes.ts";
import type { Logger } from "../ops/log.ts";
import type { Reading, Rejection, Validator } from "../domain/reading.ts";
import type { DeadLetter, StoredReading, WriteResult } from "../storage/repository.ts";
import { sleep } from "../ops/shutdown.ts";

/** One Kafka record as the sink sees it. */
export interface SinkRecord {
  /** Topic it was read from. */
  topic: string;
  /** Partition it was read from. */
  partition: number;
  /** Offset, as a decimal string. */
  offset: string;
  /** Raw key, or null. */
  key: Uint8Array | null;
  /** Raw value, or null (tombstone). */
  value: Uint8Array | null;
  /** Kafka timestamp in epoch ms, or null when unknown. */
  timestampMs: number | null;
}

/** Where batches go: the repository, or a test double in unit tests. */
export interface BatchStore {
  /** Writes readings, dead letters and alert upserts in one transaction. */
  writeBatch(readings: StoredReading[], deadLetters: DeadLetter[], alerts?: Alert[]): Promise<WriteResult>;
}

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

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
  keepAlive: (() => Promise<void>) | undefined;
}

/**
 * The raw key and value bytes of a submission's valid records, copied into one block so that
 * kafkajs' fetch buffers and per-record Buffer objects can go at once: a queued reading keeps a
 * block and an index, not a record, two Buffers and its copy of the offset (what is queued
 * outlives the young generation, and the old generation's collection cost grows with it).
 * Only the rare database refusal reads them back ({@link RawRecords.record}).
 */
class RawRecords {
  readonly #bytes: Uint8Array;
  /** Per record: key start, key end, value start, value end; -1 for a null key or value. */
  readonly #bounds: Int32Array;
  readonly #timestamps: Float64Array;
  readonly #topics: string[];

  constructor(records: readonly SinkRecord[], indexes: readonly number[]) {
    let size = 0;
    for (const i of indexes) size += (records[i]!.key?.byteLength ?? 0) + (records[i]!.value?.byteLength ?? 0);
    this.#bytes = new Uint8Array(size);
    this.#bounds = new Int32Array(indexes.length * 4);
    this.#timestamps = new Float64Array(indexes.length);
    this.#topics = new Array<string>(indexes.length);
    let at = 0;
    const copy = (bytes: Uint8Array | null, slot: number) => {
      if (bytes === null) {
        this.#bounds[slot] = this.#bounds[slot + 1] = -1;
        return;
      }
      this.#bytes.set(bytes, at);
      this.#bounds[slot] = at;
      this.#bounds[slot + 1] = at += bytes.byteLength;
    };
    for (let n = 0; n < indexes.length; n++) {
      const r = records[indexes[n]!]!;
      copy(r.key, 4 * n);
      copy(r.value, 4 * n + 2);
      this.#timestamps[n] = r.timestampMs ?? Number.NaN;
      this.#topics[n] = r.topic;
    }
  }

  /** The `n`th record again, as it came from Kafka (its bytes are views into the block). */
  record(n: number, partition: number, offset: string): SinkRecord {
    const b = this.#bounds;
    const view = (slot: number) => b[slot]! < 0 ? null : this.#bytes.subarray(b[slot]!, b[slot + 1]!);
    const ts = this.#timestamps[n]!;
    return {
      topic: this.#topics[n]!,
      partition,
      offset,
      key: view(4 * n),
      value: view(4 * n + 2),
      timestampMs: Number.isNaN(ts) ? null : ts,
    };
  }
}

/** A valid reading queued for writing, with where its raw bytes are (for the rare database refusal). */
class QueuedReading implements StoredReading {
  readonly customerId: string;
  readonly recordedAt: string;
  readonly recordedAtMs: number;
  readonly heartRate: number;
  readonly isAnomaly: boolean;
  readonly category: Reading["category"];
  readonly reportedAnomaly: boolean | null;
  readonly readingId: string | null;

  constructor(
    r: Reading,
    readonly partition: number,
    readonly offset: string,
    readonly raw: RawRecords,
    readonly rawIndex: number,
  ) {
    this.customerId = r.customerId;
    this.recordedAt = r.recordedAt;
    this.recordedAtMs = r.recordedAtMs;
    this.heartRate = r.heartRate;
    this.isAnomaly = r.isAnomaly;
    this.category = r.category;
    this.reportedAnomaly = r.reportedAnomaly;
    this.readingId = r.readingId;
  }

  /** The Kafka record the reading came from. */
  get source(): SinkRecord {
    return this.raw.record(this.rawIndex, this.partition, this.offset);
  }
}

/**
 * Records validated by {@link Sink.prepare}: what the sink keeps of them (readings, dead letters
 * with copies of their bytes), holding nothing of the records themselves. Hand it to {@link Sink.submit}.
 */
export class PreparedRecords {
  /** @internal */
  readonly pending: Pending;

  /** @internal */
  constructor(pending: Pending) {
    this.pending = pending;
  }
}

interface Pending {
  /** The `topic:partition` keys of its records. */
  partitions: string[];
  readings: QueuedReading[];
  deadLetters: DeadLetter[];
  waiters: Waiter[];
  records: number;
  /** Key and value bytes of its records. */
  bytes: number;
  reasons: Record<string, number>;
}

const emptyPending = (): Pending => ({
  partitions: [],
  readings: [],
  deadLetters: [],
  waiters: [],
  records: 0,
  bytes: 0,
  reasons: {},
});

/**
 * Whether a database error is about the data (SQLSTATE class 22 data exception or 23 integrity
 * violation), so retrying the same batch cannot help. Everything else (lost connections, server
 * shutting down, too many connections, a missing table) is retried.
 */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^2[23]/.test(code);
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
  readonly #o: Required<Pick<SinkOptions, "initialRetryMs" | "maxRetryMs" | "writers">> & SinkOptions;
  /** Submissions waiting to be written, oldest first; a batch takes whole submissions. */
  #queue: Pending[] = [];
  #queued = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing = 0;
  #writingRecords = 0;
  #queuedBytes = 0;
  #writingBytes = 0;
  /** Partitions with records in a batch being written, by `topic:partition` key. */
  readonly #busy = new Set<string>();
  #failingWriters = 0;
  #writtenListeners: (() => void)[] = [];
  #ready = true;
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
    this.#o = { initialRetryMs: 200, maxRetryMs: 5_000, writers: 1, ...options };
  }

  /** False while the database is failing; true otherwise. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Records accepted but not yet committed (queued, and in the batches being written). */
  get pending(): number {
    return this.#queued + this.#writingRecords;
  }

  /** Key and value bytes of the records accepted but not yet committed. */
  get pendingBytes(): number {
    return this.#queuedBytes + this.#writingBytes;
  }

  /**
   * Resolves after a batch being written (or the next one) has been committed or has failed;
   * at once when nothing is queued. Callers use it for back-pressure.
   */
  written(): Promise<void> {
    if (this.#writing === 0 && this.#queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#writtenListeners.push(resolve));
  }

  /**
   * Validates records and keeps what the sink needs of them, copied out of the records' buffers,
   * so that nothing queued holds a record, its Buffers or the fetch buffer they are views into.
   */
  prepare(records: readonly SinkRecord[]): PreparedRecords {
    const p = emptyPending();
    const validate = this.#o.validate;
    const verdicts = new Array<Reading | null>(records.length);
    const valid: number[] = [];
    let last: SinkRecord | undefined;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      if (last === undefined || record.partition !== last.partition || record.topic !== last.topic) {
        const key = `${record.topic}:${record.partition}`;
        if (!p.partitions.includes(key)) p.partitions.push(key);
        last = record;
      }
      p.bytes += (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0);
      const verdict = validate(record.value);
      if (verdict.ok) {
        verdicts[i] = verdict.reading;
        valid.push(i);
      } else {
        verdicts[i] = null;
        p.deadLetters.push(deadLetterOf(record, verdict.reasons, true));
        const code = verdict.reasons[0]!.code;
        p.reasons[code] = (p.reasons[code] ?? 0) + 1;
      }
    }
    const raw = new RawRecords(records, valid);
    for (let n = 0; n < valid.length; n++) {
      const record = records[valid[n]!]!;
      p.readings.push(new QueuedReading(verdicts[valid[n]!]!, record.partition, record.offset, raw, n));
    }
    p.records = records.length;
    return new PreparedRecords(p);
  }

  /**
   * Validates records (unless {@link Sink.prepare} did) and queues them; resolves when every one
   * of them is committed in the database (as a reading or a dead letter). Rejects only when the
   * sink's signal aborts first.
   *
   * @param keepAlive called while waiting on a failing database (e.g. the Kafka heartbeat)
   */
  submit(records: readonly SinkRecord[] | PreparedRecords, keepAlive?: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("Cannot submit: the sink is closed"));
    const p = records instanceof PreparedRecords ? records.pending : this.prepare(records).pending;
    if (p.records === 0) return Promise.resolve();
    if (p.waiters.length > 0) return Promise.reject(new Error("Cannot submit: these records were submitted before"));
    const promise = new Promise<void>((resolve, reject) => p.waiters.push({ resolve, reject, keepAlive }));
    this.#enqueue(p);
    return promise;
  }

  #enqueue(p: Pending): void {
    this.#queue.push(p);
    this.#queued += p.records;
    this.#queuedBytes += p.bytes;
    if (this.#queued >= this.#o.batchSize) this.#kick();
    else this.#armTimer();
  }

  #armTimer(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick(true);
    }, this.#o.batchWaitMs);
  }

  /** Writes what is pending and stops accepting records. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#queued > 0 || this.#writing > 0) {
      this.#kick(true);
      await this.written();
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #kick(due = false): void {
    if (this.#writing >= this.#o.writers || this.#queue.length === 0) return;
    if (!due && this.#queued < this.#o.batchSize) return;
    // one transaction: whole submissions, oldest first, until the batch is full; a submission
    // whose partition is being written waits, and so do the later ones of that partition
    const p = emptyPending();
    const blocked = new Set<string>();
    const rest: Pending[] = [];
    for (const next of this.#queue) {
      if (p.records >= this.#o.batchSize || next.partitions.some((k) => this.#busy.has(k) || blocked.has(k))) {
        for (const k of next.partitions) blocked.add(k);
        rest.push(next);
        continue;
      }
      for (const k of next.partitions) if (!p.partitions.includes(k)) p.partitions.push(k);
      for (const r of next.readings) p.readings.push(r);
      for (const d of next.deadLetters) p.deadLetters.push(d);
      for (const w of next.waiters) p.waiters.push(w);
      for (const [code, n] of Object.entries(next.reasons)) p.reasons[code] = (p.reasons[code] ?? 0) + n;
      p.records += next.records;
      p.bytes += next.bytes;
    }
    if (p.records === 0) return; // all wait for partitions being written: the end of a write kicks again
    this.#queue = rest;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#queued -= p.records;
    this.#queuedBytes -= p.bytes;
    this.#writing++;
    this.#writingRecords += p.records;
    this.#writingBytes += p.bytes;
    for (const k of p.partitions) this.#busy.add(k);
    this.#write(p).then(
      () => p.waiters.forEach((w) => w.resolve()),
      (error) => p.waiters.forEach((w) => w.reject(error)),
    ).finally(() => {
      this.#writing--;
      this.#writingRecords -= p.records;
      this.#writingBytes -= p.bytes;
      for (const k of p.partitions) this.#busy.delete(k);
      for (const listener of this.#writtenListeners.splice(0)) listener();
      // what is left: write now if a batch is full, or if its wait ran out meanwhile
      if (this.#queue.length === 0) return;
      if (this.#queued >= this.#o.batchSize || this.#timer === undefined) this.#kick(true);
    });
    // a free writer takes the next full batch at once; a partial one waits for its timer
    if (this.#queue.length > 0) {
      if (this.#queued >= this.#o.batchSize) this.#kick();
      else this.#armTimer();
    }
  }

  async #write(p: Pending): Promise<void> {
    const started = performance.now();
    let retries = 0;
    const keepAlive = p.waiters.findLast((w) => w.keepAlive !== undefined)?.keepAlive;
    // not ready while any writer's last attempt failed; a writer whose step needed no database
    // (or that has not failed) says nothing about the others
    let failing = false;
    const setFailing = (now: boolean) => {
      if (failing === now) return;
      failing = now;
      this.#failingWriters += now ? 1 : -1;
      this.#setReady(this.#failingWriters === 0);
    };
    const attempt = async <T>(fn: () => Promise<T>): Promise<T> => {
      let delay = this.#o.initialRetryMs;
      for (;;) {
        try {
          const result = await fn();
          setFailing(false);
          return result;
        } catch (error) {
          if (isDataError(error)) throw error;
          if (this.#o.signal?.aborted) throw this.#o.signal.reason;
          retries++;
          setFailing(true);
          this.#o.log.warn("database write failed; retrying", { error, retryInMs: delay, attempt: retries });
          await sleep(delay, this.#o.signal); // an abort ends the sink: it stays not ready
          await keepAlive?.().catch(() => {});
          delay = Math.min(this.#o.maxRetryMs, delay * 2);
        }
      }
    };
    const episodes = this.#o.episodes;
    let tracked: TrackResult;
    let result: WriteResult;
    try {
      tracked = episodes === undefined || p.readings.length === 0
        ? { alerts: [], events: [] }
        : await attempt(() => episodes.process(p.readings));
      result = await this.#writeSplitting(p.readings, p.deadLetters, attempt, tracked.alerts);
    } finally {
      // a write that ends in an error after failing attempts no longer speaks for the database,
      // unless the sink was stopped while the database was down (it stays not ready then)
      if (failing && !this.#o.signal?.aborted) setFailing(false);
    }
    if (tracked.events.length > 0) await this.#o.publishEvents?.(tracked.events);
    this.#o.onBatch?.({
      ...result,
      records: p.records,
      writeMs: performance.now() - started,
      retries,
      reasons: p.reasons,
      readingTimesMs: p.readings.map((r) => r.recordedAtMs),
      events: tracked.events,
    });
  }

  /** Writes a batch; when the database refuses its data, halves it until the culprit is alone. */
  async #writeSplitting(
    readings: QueuedReading[],
    deadLetters: DeadLetter[],
    attempt: <T>(fn: () => Promise<T>) => Promise<T>,
    alerts: Alert[] = [],
  ): Promise<WriteResult> {
    try {
      return await attempt(() => this.#o.store.writeBatch(readings, deadLetters, alerts));
    } catch (error) {
      if (!isDataError(error)) throw error;
      const total = readings.length + deadLetters.length;
      if (total === 0) {
        // only alert rows left and the database refuses them: they are derived data, rebuilt
        // from the readings; say so loudly rather than block the partition
        this.#o.log.error("database refused alert rows; they were not stored", { error, alerts: alerts.length });
        return { inserted: 0, duplicates: 0, rejected: 0, rejectedDuplicates: 0 };
      }
      if (total === 1 && alerts.length > 0) {
        // the record may be fine and the alerts the problem: try the record alone first
        return await this.#writeSplitting(readings, deadLetters, attempt);
      }
      if (total === 1) return await this.#refused(readings, deadLetters, error, attempt);
      this.#o.log.warn("database refused a batch; splitting it to find the record", { error, records: total });
      const half = (xs: unknown[]) => Math.ceil(xs.length / 2);
      const a = await this.#writeSplitting(
        readings.slice(0, half(readings)),
        deadLetters.slice(0, half(deadLetters)),
        attempt,
        alerts,
      );
      const b = await this.#writeSplitting(
        readings.slice(half(readings)),
        deadLetters.slice(half(deadLetters)),
        attempt,
      );
      return {
        inserted: a.inserted + b.inserted,
        duplicates: a.duplicates + b.duplicates,
        rejected: a.rejected + b.rejected,
        rejectedDuplicates: a.rejectedDuplicates + b.rejectedDuplicates,
      };
    }
  }

  async #refused(
    readings: QueuedReading[],
    deadLetters: DeadLetter[],
    error: unknown,
    attempt: <T>(fn: () => Promise<T>) => Promise<T>,
  ): Promise<WriteResult> {
    const message = error instanceof Error ? error.message : String(error);
    // the repository's UnencodableRowError was refused before the server saw it: it says so itself
    const clientSide = error instanceof Error && error.name === "UnencodableRowError";
    const reason: Rejection = {
      code: "rejected_by_database",
      detail: clientSide ? message : `the database refused it: ${message}`,
    };
    let letter: DeadLetter;
    const reading = readings[0];
    if (reading !== undefined) {
      letter = deadLetterOf(reading.source, [reason]);
    } else {
      // a dead letter whose reasons the database would not take: keep the bytes, plain reason
      letter = { ...deadLetters[0]!, reasons: [reason] };
    }
    this.#o.log.error("database refused a record; stored it as a dead letter", {
      error,
      partition: letter.partition,
      offset: letter.offset,
    });
    const result = await attempt(() => this.#o.store.writeBatch([], [letter]));
    return { inserted: 0, duplicates: 0, rejected: result.rejected, rejectedDuplicates: result.rejectedDuplicates };
  }

  #setReady(ready: boolean): void {
    if (this.#ready === ready) return;
    this.#ready = ready;
    if (ready) this.#o.log.info("database writes succeed again");
    this.#o.onReadyChange?.(ready);
  }
}

/** A dead letter of `record`; `copy` copies its bytes (so that the record's buffer can go). */
function deadLetterOf(record: SinkRecord, reasons: Rejection[], copy = false): DeadLetter {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key: copy && record.key !== null ? new Uint8Array(record.key) : record.key,
    value: copy && record.value !== null ? new Uint8Array(record.value) : record.value,
    timestampMs: record.timestampMs,
    reasons,
  };
}
