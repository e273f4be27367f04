/**
 * Finding the record a database refuses: a batch refused for its data ({@link DataError}) is
 * split in halves, and each half written on its own, until the one offending record is alone;
 * that record goes to the dead-letter table as `rejected_by_database` with the database's reason,
 * and every other record of the batch is stored. Nothing is lost and nothing retried forever.
 *
 * @module
 */
import type { Alert } from "../domain/episodes.ts";
import type { Rejection } from "../domain/reading.ts";
import type { Logger } from "../ops/log.ts";
import { DataError, type DeadLetter, type StoredReading, type WriteResult } from "../storage/mod.ts";
import { deadLetterOf, type QueuedReading } from "./prepare.ts";
import type { Attempt } from "./writer.ts";

/** Where batches go: the repository, or a test double in unit tests. */
export interface BatchStore {
  /**
   * Writes readings, dead letters and alert upserts in one transaction.
   *
   * @throws {DataError} when the data is refused; anything else is retried
   */
  writeBatch(readings: StoredReading[], deadLetters: DeadLetter[], alerts?: Alert[]): Promise<WriteResult>;
}

const NOTHING: WriteResult = Object.freeze({ inserted: 0, duplicates: 0, rejected: 0, rejectedDuplicates: 0 });

/**
 * Writes a batch; when the database refuses its data, halves it until the culprit is alone and
 * dead-letters it.
 */
export async function writeBisecting(
  store: BatchStore,
  readings: QueuedReading[],
  deadLetters: DeadLetter[],
  attempt: Attempt,
  log: Logger,
  alerts: Alert[] = [],
): Promise<WriteResult> {
  try {
    return await attempt(() => store.writeBatch(readings, deadLetters, alerts));
  } catch (error) {
    if (!(error instanceof DataError)) throw error;
    const total = readings.length + deadLetters.length;
    if (total === 0) {
      // only alert rows left and the database refuses them: they are derived data, rebuilt
      // from the readings; say so loudly rather than block the partition
      log.error("database refused alert rows; they were not stored", { error, alerts: alerts.length });
      return NOTHING;
    }
    if (total === 1 && alerts.length > 0) {
      // the record may be fine and the alerts the problem: try the record alone first
      return await writeBisecting(store, readings, deadLetters, attempt, log);
    }
    if (total === 1) return await deadLetterRefused(store, readings, deadLetters, error, attempt, log);
    log.warn("database refused a batch; splitting it to find the record", { error, records: total });
    const half = (xs: unknown[]) => Math.ceil(xs.length / 2);
    const a = await writeBisecting(
      store,
      readings.slice(0, half(readings)),
      deadLetters.slice(0, half(deadLetters)),
      attempt,
      log,
      alerts,
    );
    const b = await writeBisecting(
      store,
      readings.slice(half(readings)),
      deadLetters.slice(half(deadLetters)),
      attempt,
      log,
    );
    return {
      inserted: a.inserted + b.inserted,
      duplicates: a.duplicates + b.duplicates,
      rejected: a.rejected + b.rejected,
      rejectedDuplicates: a.rejectedDuplicates + b.rejectedDuplicates,
    };
  }
}

/** Stores the one refused record (a reading, or a dead letter whose reasons were refused) as a dead letter. */
async function deadLetterRefused(
  store: BatchStore,
  readings: QueuedReading[],
  deadLetters: DeadLetter[],
  error: DataError,
  attempt: Attempt,
  log: Logger,
): Promise<WriteResult> {
  const reason: Rejection = { code: "rejected_by_database", detail: error.detail };
  const reading = readings[0];
  // a dead letter whose reasons the database would not take: keep the bytes, plain reason
  const letter = reading !== undefined
    ? deadLetterOf(reading.source, [reason])
    : { ...deadLetters[0]!, reasons: [reason] };
  log.error("database refused a record; stored it as a dead letter", {
    error,
    partition: letter.partition,
    offset: letter.offset,
  });
  const result = await attempt(() => store.writeBatch([], [letter]));
  return { ...NOTHING, rejected: result.rejected, rejectedDuplicates: result.rejectedDuplicates };
}
