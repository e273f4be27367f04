/**
 * Trying a Kafka step again when kafkajs marks its error retriable: a broker that has just
 * started, or a topic created a moment ago, can answer UNKNOWN_TOPIC_OR_PARTITION or
 * LEADER_NOT_AVAILABLE for a moment (kafkajs issue 815; seen from deno task dev's fresh broker),
 * and kafkajs does not retry every call itself (subscribe, for one).
 *
 * @module
 */
import type { Logger } from "../ops/log.ts";

/** Runs `step`, again up to `attempts` times in all, `delayMs` apart, while it fails with a retriable error. */
export async function retryRetriable<T>(
  step: () => Promise<T>,
  warning: { log: Logger; message: string; fields: Record<string, unknown> },
  attempts = 10,
  delayMs = 500,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await step();
    } catch (error) {
      if ((error as { retriable?: unknown }).retriable !== true || attempt >= attempts) throw error;
      warning.log.warn(warning.message, { ...warning.fields, attempt, error });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}
