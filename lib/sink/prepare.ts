/**
 * Validating a submission and keeping only what the sink needs of it: the valid readings (with
 * their Kafka position), the dead letters (with copies of their bytes), the partitions it holds
 * and its size. Nothing queued holds a record, its Buffers or the fetch buffer they are views
 * into: what is queued outlives the young generation, and the old generation's collection cost
 * grows with it.
 *
 * @module
 */
import { decodeAsciiValues, type Reading, type Rejection, type Validator } from "../domain/reading.ts";
import type { SourceRecord } from "../domain/source_record.ts";
import type { DeadLetter, StoredReading } from "../storage/mod.ts";

/**
 * The raw key and value bytes of a submission's valid records, copied into one block so that
 * kafkajs' fetch buffers and per-record Buffer objects can go at once: a queued reading keeps a
 * block and an index, not a record, two Buffers and its copy of the offset. Only the rare
 * database refusal reads them back ({@link RawRecords.record}).
 */
class RawRecords {
  readonly #bytes: Uint8Array;
  /** Per record: key start, key end, value start, value end; -1 for a null key or value. */
  readonly #bounds: Int32Array;
  readonly #timestamps: Float64Array;
  readonly #topics: string[];

  constructor(records: readonly SourceRecord[], indexes: readonly number[]) {
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
  record(n: number, partition: number, offset: string): SourceRecord {
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
export class QueuedReading implements StoredReading {
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
  get source(): SourceRecord {
    return this.raw.record(this.rawIndex, this.partition, this.offset);
  }
}

/** Resolves or rejects the promise a submission's caller waits on. */
export interface Waiter {
  /** The batch holding the submission committed. */
  resolve: () => void;
  /** The batch could not be stored (only on a stop while the database is down). */
  reject: (error: unknown) => void;
  /** Called while waiting on a failing database (e.g. the Kafka heartbeat). */
  keepAlive: (() => Promise<void>) | undefined;
}

/** Validated records, or several submissions merged into one batch. */
export interface Submission {
  /** The `topic:partition` keys of its records. */
  partitions: string[];
  /** Valid readings, in the order they came. */
  readings: QueuedReading[];
  /** Rejected records. */
  deadLetters: DeadLetter[];
  /** The callers waiting for it. */
  waiters: Waiter[];
  /** Records in it, valid or not. */
  records: number;
  /** Key and value bytes of its records. */
  bytes: number;
  /** Rejection counts by first reason code. */
  reasons: Record<string, number>;
}

/** An empty submission, to fill or to merge others into. */
export function emptySubmission(): Submission {
  return { partitions: [], readings: [], deadLetters: [], waiters: [], records: 0, bytes: 0, reasons: {} };
}

/**
 * Records validated by {@link prepare}: what the sink keeps of them, holding nothing of the
 * records themselves. Hand it to `Sink.submit`.
 */
export class PreparedRecords {
  /** @internal */
  readonly submission: Submission;

  /** @internal */
  constructor(submission: Submission) {
    this.submission = submission;
  }
}

/** Validates records and keeps what the sink needs of them, copied out of the records' buffers. */
export function prepare(records: readonly SourceRecord[], validate: Validator): PreparedRecords {
  const p = emptySubmission();
  const verdicts = new Array<Reading | null>(records.length);
  const valid: number[] = [];
  let last: SourceRecord | undefined;
  const texts = decodeAsciiValues(records.map((r) => r.value));
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    if (last === undefined || record.partition !== last.partition || record.topic !== last.topic) {
      const key = `${record.topic}:${record.partition}`;
      if (!p.partitions.includes(key)) p.partitions.push(key);
      last = record;
    }
    p.bytes += (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0);
    const verdict = validate(record.value, texts[i]);
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

/** A dead letter of `record`; `copy` copies its bytes (so that the record's buffer can go). */
export function deadLetterOf(record: SourceRecord, reasons: Rejection[], copy = false): DeadLetter {
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
