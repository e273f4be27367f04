/**
 * The rows the repository writes, as the sink hands them over: valid readings with their Kafka
 * position, dead letters with their raw bytes and reasons, and what a batch write did.
 *
 * @module
 */
import type { Reading, Rejection } from "../domain/reading.ts";
import type { SourceRecord } from "../domain/source_record.ts";

/** A valid reading together with the Kafka position it was read from. */
export interface StoredReading extends Reading {
  /** Kafka partition the reading came from. */
  partition: number;
  /** Kafka offset of the reading's record, as a decimal string. */
  offset: string;
}

/** A rejected Kafka record with everything needed to inspect or replay it. */
export interface DeadLetter extends SourceRecord {
  /** Every reason the record was rejected; never empty. */
  reasons: Rejection[];
}

/** What one {@link Repository.writeBatch} did. */
export interface WriteResult {
  /** Readings inserted. */
  inserted: number;
  /** Readings skipped because the same (customer_id, recorded_at) was already stored. */
  duplicates: number;
  /** Dead letters inserted. */
  rejected: number;
  /** Dead letters skipped because the same (topic, partition, offset) was already stored. */
  rejectedDuplicates: number;
}
