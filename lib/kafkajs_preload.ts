/**
 * What must change in kafkajs before kafkajs loads: its producer's `groupMessagesPerPartition`,
 * replaced by a linear one with the same result.
 *
 * Why: kafkajs 2.2.4 groups a request's messages by partition with a `reduce` that copies the
 * partition's array for every message (`[...current, message]`), quadratic in a request's messages
 * per partition: about 1 µs a message at 2,000 messages a request over 6 partitions, 12% of the
 * producer's time in a profile (docs/performance.md). kafkajs' `sendMessages.js` captures the
 * function when it loads, so it cannot be swapped afterwards as the encoder's methods are
 * (lib/kafkajs_encoder.ts): this module puts the linear one in the CommonJS module cache first,
 * where kafkajs' own `require` finds it.
 *
 * Hence the rule: every module of ours that imports values from `kafkajs` imports this module
 * first (`tests/project_test.ts` checks it). If kafkajs was loaded before anyway, or is not the
 * version this was written for, kafkajs is left as it is and {@link groupingPatch} says why
 * (`createKafka` logs it).
 *
 * @example
 * ```ts
 * import "./kafkajs_preload.ts"; // before kafkajs
 * import { Kafka } from "kafkajs";
 * ```
 *
 * @module
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const GROUP = "kafkajs/src/producer/groupMessagesPerPartition.js";
const CALLER = "kafkajs/src/producer/sendMessages.js";

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
 * import { groupMessagesPerPartition } from "./kafkajs_preload.ts";
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

let original: (<M>(args: GroupArgs<M>) => Record<number, M[]>) | undefined;

/**
 * kafkajs' own `groupMessagesPerPartition`, for the test that compares the two.
 *
 * @throws when kafkajs' module could not be loaded (see {@link groupingPatch})
 */
export function originalGroupMessagesPerPartition<M>(args: GroupArgs<M>): Record<number, M[]> {
  if (original === undefined) throw new Error(`kafkajs' groupMessagesPerPartition is not available (${groupingPatch})`);
  return original(args);
}

/**
 * Whether kafkajs' producer uses {@link groupMessagesPerPartition}: `installed`; `late` when kafkajs'
 * producer had been loaded before this module (an import order mistake); `unknown` when kafkajs'
 * function is not the one it replaces (another kafkajs version); `failed` when its module could not
 * be loaded through `require` at all (a runtime whose CommonJS loader differs). Never throws: at
 * worst kafkajs runs as it is.
 */
export const groupingPatch: "installed" | "late" | "unknown" | "failed" = install();

function install(): "installed" | "late" | "unknown" | "failed" {
  try {
    // resolved as imports are (require.resolve would walk directories, which needs --allow-read)
    const pathOf = (specifier: string) => fileURLToPath(import.meta.resolve(specifier));
    const require = createRequire(import.meta.url);
    if (pathOf(CALLER) in require.cache) return "late";
    const path = pathOf(GROUP);
    original = require(path);
    if (!String(original).includes("[...current, message]")) return "unknown";
    const cached = require.cache[path];
    if (cached === undefined) return "failed";
    cached.exports = groupMessagesPerPartition;
    return "installed";
  } catch {
    return "failed";
  }
}
