/**
 * The sink: validated records in, batches across partitions written in one transaction each
 * (readings, dead letters, alerts), retried while the database fails, bisected when it refuses
 * a record, and acknowledged only once committed. {@link Sink} composes the parts:
 * `prepare.ts` (validate and keep a compact copy), `batcher.ts` (group commit, partition order),
 * `writer.ts` (retries and readiness), `bisect.ts` (find and dead-letter a refused record).
 *
 * @module
 */
export { type BatchStats, Sink, type SinkOptions } from "./sink.ts";
export type { BatchStore } from "./bisect.ts";
export type { PreparedRecords } from "./prepare.ts";
export { BatchTotals, logBatch } from "./report.ts";
