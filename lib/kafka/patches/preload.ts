/**
 * What must change in kafkajs before kafkajs loads: its producer's `groupMessagesPerPartition`,
 * replaced by a linear one with the same result, and its record (v0) encoder, replaced by
 * {@link directRecordEncoder} (lib/kafkajs_encoder.ts), which writes the same bytes.
 *
 * Why: kafkajs 2.2.4 groups a request's messages by partition with a `reduce` that copies the
 * partition's array for every message (`[...current, message]`), quadratic in a request's messages
 * per partition: about 1 µs a message at 2,000 messages a request over 6 partitions, 12% of the
 * producer's time in a profile; and it encodes each record into a new zero-filled 512-byte buffer,
 * which it then copies again (13% of the producer's time once the grouping was gone;
 * docs/performance.md, Producer). kafkajs' `sendMessages.js` and its produce request capture those
 * functions when they load, so they cannot be swapped afterwards as the encoder's methods are
 * (lib/kafkajs_encoder.ts): this module puts the replacements in the CommonJS module cache first,
 * where kafkajs' own `require` finds them.
 *
 * Hence the rule: every module of ours that imports values from `kafkajs` imports this module
 * first (`tests/project_test.ts` checks it). If kafkajs was loaded before anyway, or is not the
 * version this was written for, kafkajs is left as it is and {@link groupingPatch} and
 * {@link recordPatch} say why (`createKafka` logs it).
 *
 * @example
 * ```ts
 * import "./preload.ts"; // before kafkajs
 * import { Kafka } from "kafkajs";
 * ```
 *
 * @module
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { directRecordEncoder, type EncodedRecord, type RecordArgs } from "./encoder.ts";

/** The arguments kafkajs passes to `groupMessagesPerPartition`. */
export interface GroupArgs<M> {
  /** The topic the messages go to. */
  topic: string;
  /** The topic's partitions. */
  partitionMetadata: unknown[];
  /** The request's messages, in order. */
  messages: M[];
  /** The producer's partitioner. */
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: M }) => number;
}

/**
 * kafkajs' grouping without the copies: each partition's messages in their order, the
 * partitioner called once per message in order, and `{}` for a topic without partitions, as
 * kafkajs' own does (`lib/kafkajs_preload_test.ts` compares both on random input).
 *
 * @example
 * ```ts
 * import { groupMessagesPerPartition } from "./preload.ts";
 * const byPartition = groupMessagesPerPartition({
 *   topic: "t", partitionMetadata: [{}, {}], messages: ["a", "b", "c"],
 *   partitioner: ({ message }) => message === "b" ? 1 : 0,
 * }); // { 0: ["a", "c"], 1: ["b"] }
 * ```
 */
export function groupMessagesPerPartition<M>(args: GroupArgs<M>): Record<number, M[]> {
  const { topic, partitionMetadata, messages, partitioner } = args;
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition];
    if (current === undefined) result[partition] = [message];
    else current.push(message);
  }
  return result;
}

/** Whether a swap took: see {@link groupingPatch}. */
export type PatchState = "installed" | "late" | "unknown" | "failed";

/**
 * Swaps the CommonJS module `target` (a kafkajs file) for `replace(original)` in the module cache,
 * before `caller` (the kafkajs file that requires it) loads. `mark` is a line of the original's
 * source: without it, this is not the kafkajs the replacement was written for. Never throws.
 */
function swap<F>(target: string, caller: string, mark: string, replace: (original: F) => F): [PatchState, F?] {
  try {
    // resolved as imports are (require.resolve would walk directories, which needs --allow-read)
    const pathOf = (specifier: string) => fileURLToPath(import.meta.resolve(specifier));
    const require = createRequire(import.meta.url);
    if (pathOf(caller) in require.cache) return ["late"];
    const path = pathOf(target);
    const original: F = require(path);
    if (!String(original).includes(mark)) return ["unknown", original];
    const cached = require.cache[path];
    if (cached === undefined) return ["failed", original];
    cached.exports = replace(original);
    return ["installed", original];
  } catch {
    return ["failed"];
  }
}

type Group = <M>(args: GroupArgs<M>) => Record<number, M[]>;
const [grouping, originalGroup] = swap<Group>(
  "kafkajs/src/producer/groupMessagesPerPartition.js",
  "kafkajs/src/producer/sendMessages.js",
  "[...current, message]",
  () => groupMessagesPerPartition,
);

/**
 * Whether kafkajs' producer uses {@link groupMessagesPerPartition}: `installed`; `late` when kafkajs'
 * producer had been loaded before this module (an import order mistake); `unknown` when kafkajs'
 * function is not the one it replaces (another kafkajs version); `failed` when its module could not
 * be loaded through `require` at all (a runtime whose CommonJS loader differs). Never throws: at
 * worst kafkajs runs as it is.
 */
export const groupingPatch: PatchState = grouping;

/**
 * kafkajs' own `groupMessagesPerPartition`, for the test that compares the two.
 *
 * @throws when kafkajs' module could not be loaded (see {@link groupingPatch})
 */
export function originalGroupMessagesPerPartition<M>(args: GroupArgs<M>): Record<number, M[]> {
  if (originalGroup === undefined) throw new Error(`kafkajs' groupMessagesPerPartition is not available (${grouping})`);
  return originalGroup(args);
}

type RecordEncoder = (args: RecordArgs) => EncodedRecord;
const [record, originalRecord] = swap<RecordEncoder>(
  "kafkajs/src/protocol/recordBatch/record/v0/index.js",
  "kafkajs/src/protocol/requests/produce/v3/request.js",
  "writeVarIntArray(headersArray.map(Header))",
  directRecordEncoder,
);

/**
 * Whether kafkajs' produce requests encode records with {@link directRecordEncoder}: the same
 * states as {@link groupingPatch}.
 */
export const recordPatch: PatchState = record;

/**
 * kafkajs' own record (v0) encoder, for the test that compares the two.
 *
 * @throws when kafkajs' module could not be loaded (see {@link recordPatch})
 */
export function originalRecordEncoder(args: RecordArgs): EncodedRecord {
  if (originalRecord === undefined) throw new Error(`kafkajs' record encoder is not available (${record})`);
  return originalRecord(args);
}
