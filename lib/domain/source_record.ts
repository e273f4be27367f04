/**
 * One record as it came from the topic: where it was (topic, partition, offset), its raw key and
 * value bytes, and its timestamp. The sink validates it, and a rejected one is kept with exactly
 * these coordinates and bytes, so it can be inspected or replayed.
 *
 * @module
 */

/** A record's coordinates and raw bytes. */
export interface SourceRecord {
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
  /** Record timestamp in epoch ms, or null when unknown. */
  timestampMs: number | null;
}
