/**
 * kafkajs' record batch encoder and decoder, its protocol Decoder and its consumer `Batch`, typed,
 * for the code that builds or reads record batches without a broker: `bench/consumer_cpu.ts` and
 * the codec tests. Loaded through `require` after the patches' preload, so the patched decoder and
 * `Batch` are the ones returned, as in the programs.
 *
 * @module
 */
import "../../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import type { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import type { KafkaMessage } from "kafkajs";

const require = createRequire(import.meta.url);
const load = <T>(specifier: string): T => require(new URL(import.meta.resolve(specifier)).pathname) as T;

/** A record as kafkajs' record batch decoder returns it (the fields used here). */
export interface DecodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
}

/** kafkajs' record batch (v0) encoder: compresses with the codec of `compression`. */
export const { RecordBatch } = load<{ RecordBatch: (batch: Record<string, unknown>) => Promise<{ buffer: Buffer }> }>(
  "kafkajs/src/protocol/recordBatch/v0/index.js",
);
/** kafkajs' record (v0) encoder. */
export const Record = load<(record: Record<string, unknown>) => unknown>(
  "kafkajs/src/protocol/recordBatch/record/v0/index.js",
);
/** kafkajs' record batch (v0) decoder. */
export const decodeRecordBatch = load<(decoder: unknown) => Promise<{ records: DecodedRecord[] }>>(
  "kafkajs/src/protocol/recordBatch/v0/decoder.js",
);
/** kafkajs' protocol Decoder. */
export const Decoder = load<new (buffer: Buffer) => unknown>("kafkajs/src/protocol/decoder.js");
/** kafkajs' consumer `Batch`. */
export const Batch = load<
  new (topic: string, fetchedOffset: string, data: Record<string, unknown>) => { messages: KafkaMessage[] }
>("kafkajs/src/consumer/batch.js");
