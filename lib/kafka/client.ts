/**
 * Kafka helpers: the only module that builds kafkajs clients. It routes kafkajs' own logs into our
 * logger, creates the topic when it is missing, and converts records for the sink.
 *
 * Requires `--allow-net=<every broker host:port>`; kafkajs probes `NODE_ENV`, `KAFKAJS_*` and other
 * environment variables at start, so entry scripts run with `--ignore-env` for the names they do
 * not allow (those read as undefined).
 *
 * @module
 */
import { groupingPatch, recordPatch } from "./patches/preload.ts"; // before kafkajs: see the module
import process from "node:process";
import { Kafka, type KafkaMessage, type LogEntry, logLevel as KafkaLogLevel } from "kafkajs";
import { installFastEncoder } from "./patches/encoder.ts";
import type { Logger } from "../ops/log.ts";
import type { SinkRecord } from "../sink/sink.ts";

// kafkajs 2.2.4 arms a timer with a negative delay on every request queue check; newer runtimes
// warn about it (TimeoutNegativeWarning) once per process. It is harmless: drop that one warning.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name = typeof warning === "string" ? rest[0] : warning.name;
  if (name === "TimeoutNegativeWarning" || String(warning).includes("is a negative number")) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

/**
 * Creates a kafkajs client whose logs go to `log` (at warn and above, or debug when `log` is debug).
 * Installs the fast protocol encoder first (lib/kafkajs_encoder.ts; byte-identical output) and says
 * so when the producer's linear grouping or direct record encoder (lib/kafkajs_preload.ts) could not
 * be put in place.
 *
 * @param brokers bootstrap brokers, `host:port`
 * @param clientId the client id the broker sees
 * @param log our logger
 */
export function createKafka(brokers: string[], clientId: string, log: Logger, debug = false): Kafka {
  const kafkaLog = log.child({ component: "kafkajs" });
  if (!installFastEncoder()) kafkaLog.warn("kafkajs is not the version the fast encoder fits; using its own encoder");
  if (groupingPatch !== "installed" || recordPatch !== "installed") {
    kafkaLog.warn("kafkajs produces with its own slower grouping or record encoder", { groupingPatch, recordPatch });
  }
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 5_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 10 },
    logLevel: debug ? KafkaLogLevel.DEBUG : KafkaLogLevel.WARN,
    logCreator: () => ({ namespace, level, log: entry }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...fields } = entry;
      const text = namespace ? `${namespace}: ${message}` : message;
      if (level === KafkaLogLevel.ERROR) kafkaLog.warn(text, fields);
      else if (level === KafkaLogLevel.WARN) kafkaLog.warn(text, fields);
      else kafkaLog.debug(text, fields);
    },
  });
}

/**
 * Creates the topic with `partitions` partitions when it does not exist yet. Existing topics are
 * left as they are (a topic with fewer partitions is reported, not changed).
 *
 * @returns whether the topic was created
 */
export async function ensureTopic(kafka: Kafka, topic: string, partitions: number, log: Logger): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if ((await admin.listTopics()).includes(topic)) {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const have = meta.topics[0]?.partitions.length ?? 0;
      if (have < partitions) log.warn("topic has fewer partitions than configured", { topic, have, partitions });
      return false;
    }
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }],
      waitForLeaders: true,
    });
    if (created) log.info("created topic", { topic, partitions });
    return created;
  } finally {
    await admin.disconnect();
  }
}

/** Converts a kafkajs message to the sink's record shape. */
export function toSinkRecord(topic: string, partition: number, message: KafkaMessage): SinkRecord {
  const ts = Number(message.timestamp);
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    timestampMs: Number.isFinite(ts) && ts >= 0 ? ts : null,
  };
}

export { Kafka };
