/**
 * Group commit: submissions from several partitions are merged into batches, and a batch goes to
 * the writer when it holds `batchSize` records or its oldest record has waited `batchWaitMs`. Up
 * to `writers` batches are written at once. Two batches in flight never hold the same partition:
 * a submission waits while an earlier one of its partition is being written (and so do the later
 * ones of that partition), so a partition's records are committed in order, one transaction after
 * the other.
 *
 * @module
 */
import { emptySubmission, type Submission } from "./prepare.ts";

/** Options of a {@link Batcher}. */
export interface BatcherOptions {
  /** Records that make a batch full. */
  batchSize: number;
  /** Longest a record waits for its batch to fill, ms. */
  batchWaitMs: number;
  /** Batches written at once. */
  writers: number;
  /** Writes one batch; resolves once it is committed. Its waiters are settled by the batcher. */
  write: (batch: Submission) => Promise<void>;
}

/** Merges submissions into batches and hands them to the writer; see the module documentation. */
export class Batcher {
  readonly #o: BatcherOptions;
  /** Submissions waiting to be written, oldest first; a batch takes whole submissions. */
  #queue: Submission[] = [];
  #queued = 0;
  #queuedBytes = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing = 0;
  #writingRecords = 0;
  #writingBytes = 0;
  /** Partitions with records in a batch being written, by `topic:partition` key. */
  readonly #busy = new Set<string>();
  #writtenListeners: (() => void)[] = [];

  /** @param options see {@link BatcherOptions} */
  constructor(options: BatcherOptions) {
    this.#o = options;
  }

  /** Records accepted but not yet committed (queued, and in the batches being written). */
  get pending(): number {
    return this.#queued + this.#writingRecords;
  }

  /** Key and value bytes of the records accepted but not yet committed. */
  get pendingBytes(): number {
    return this.#queuedBytes + this.#writingBytes;
  }

  /** Whether anything is queued or being written. */
  get idle(): boolean {
    return this.#queued === 0 && this.#writing === 0;
  }

  /**
   * Resolves after a batch being written (or the next one) has been committed or has failed;
   * at once when nothing is queued.
   */
  written(): Promise<void> {
    if (this.#writing === 0 && this.#queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#writtenListeners.push(resolve));
  }

  /** Queues a submission; it is written when its batch is full or due. */
  add(s: Submission): void {
    this.#queue.push(s);
    this.#queued += s.records;
    this.#queuedBytes += s.bytes;
    if (this.#queued >= this.#o.batchSize) this.#kick();
    else this.#armTimer();
  }

  /** Writes everything queued, full or not, and waits until nothing is left. */
  async drain(): Promise<void> {
    while (this.#queued > 0 || this.#writing > 0) {
      this.#kick(true);
      await this.written();
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #armTimer(): void {
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick(true);
    }, this.#o.batchWaitMs);
  }

  /** Takes the next batch: whole submissions, oldest first, skipping partitions being written. */
  #take(): Submission {
    const batch = emptySubmission();
    const blocked = new Set<string>();
    const rest: Submission[] = [];
    for (const next of this.#queue) {
      if (
        batch.records >= this.#o.batchSize || next.partitions.some((k) => this.#busy.has(k) || blocked.has(k))
      ) {
        for (const k of next.partitions) blocked.add(k);
        rest.push(next);
        continue;
      }
      for (const k of next.partitions) if (!batch.partitions.includes(k)) batch.partitions.push(k);
      for (const r of next.readings) batch.readings.push(r);
      for (const d of next.deadLetters) batch.deadLetters.push(d);
      for (const w of next.waiters) batch.waiters.push(w);
      for (const [code, n] of Object.entries(next.reasons)) batch.reasons[code] = (batch.reasons[code] ?? 0) + n;
      batch.records += next.records;
      batch.bytes += next.bytes;
    }
    if (batch.records > 0) this.#queue = rest;
    return batch;
  }

  #kick(due = false): void {
    if (this.#writing >= this.#o.writers || this.#queue.length === 0) return;
    if (!due && this.#queued < this.#o.batchSize) return;
    const batch = this.#take();
    if (batch.records === 0) return; // all wait for partitions being written: the end of a write kicks again
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#queued -= batch.records;
    this.#queuedBytes -= batch.bytes;
    this.#writing++;
    this.#writingRecords += batch.records;
    this.#writingBytes += batch.bytes;
    for (const k of batch.partitions) this.#busy.add(k);
    this.#o.write(batch).then(
      () => batch.waiters.forEach((w) => w.resolve()),
      (error) => batch.waiters.forEach((w) => w.reject(error)),
    ).finally(() => {
      this.#writing--;
      this.#writingRecords -= batch.records;
      this.#writingBytes -= batch.bytes;
      for (const k of batch.partitions) this.#busy.delete(k);
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
}
