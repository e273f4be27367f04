/**
 * Kafka clients: the only module that builds kafkajs clients. It installs the kafkajs patches
 * first (`patches/preload.ts`) and logs their state, routes kafkajs' own logs into our logger,
 * and creates the topic when it is missing.
 *
 * Requires `--allow-net=<every broker host:port>`; kafkajs probes `NODE_ENV`, `KAFKAJS_*` and other
 * environment variables at start, so entry scripts run with `--ignore-env` for the names they do
 * not allow (those read as undefined).
 *
 * @module
 */
import "./patches/preload.ts"; // before kafkajs: see the module
import "./negative_timeout_warning.ts"; // kafkajs' harmless timer warning, dropped
import "./zstd.ts"; // kafkajs' zstd codec, registered
import { Kafka, type LogEntry, logLevel as KafkaLogLevel, type SASLOptions } from "kafkajs";
import { retryRetriable } from "./retriable.ts";
import type { Logger } from "../ops/log.ts";
import { install, notInstalled, PATCHES_ENV } from "./patches/mod.ts";
import { type BrokerTls, checkBrokers } from "./preflight.ts";

/** How the clients authenticate and encrypt (the config's resolved security settings). */
export interface KafkaSecurity {
  /** TLS options for every broker connection, or false for plaintext. */
  ssl: BrokerTls;
  /** SASL credentials (or, for OAUTHBEARER, the token file re-read at each authentication), or undefined. */
  sasl?:
    | { mechanism: "plain" | "scram-sha-256" | "scram-sha-512"; username: string; password: string }
    | { mechanism: "oauthbearer"; tokenFile: string }
    | undefined;
  /** SASL over plaintext (an explicit opt-in: warned about at start). */
  plaintextSasl?: boolean;
}

/** What {@link openKafka} takes. */
export interface KafkaClientOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** The client id the brokers see. */
  clientId: string;
  /** Our logger. */
  log: Logger;
  /** TLS and SASL (default: plaintext, no SASL). */
  security?: KafkaSecurity;
  /** kafkajs' own debug logs (default false). */
  debug?: boolean;
}

/**
 * Checks the first exchange with the bootstrap brokers (`preflight.ts`: a wrong CA, name,
 * certificate or protocol fails here in seconds, with one line naming the setting), then creates
 * the client ({@link createKafka}). Logs how it connects, never a secret.
 *
 * @throws {BrokerHandshakeError} when a broker refuses or garbles the first exchange
 */
export async function openKafka(o: KafkaClientOptions): Promise<Kafka> {
  const security = o.security ?? { ssl: false };
  o.log.info("kafka connection", {
    brokers: o.brokers,
    tls: security.ssl === false
      ? false
      : { customCa: security.ssl.ca !== undefined, clientCertificate: security.ssl.cert !== undefined },
    sasl: security.sasl === undefined
      ? false
      : "username" in security.sasl
      ? { mechanism: security.sasl.mechanism, username: security.sasl.username }
      : { mechanism: security.sasl.mechanism, tokenFile: security.sasl.tokenFile },
  });
  if (security.plaintextSasl) {
    o.log.warn(
      "SASL over plaintext (--kafka-allow-plaintext-sasl): the password and every reading cross the network unencrypted",
    );
  }
  await checkBrokers(o.brokers, security.ssl);
  return createKafka(o.brokers, o.clientId, o.log, o.debug ?? false, security);
}

/**
 * Creates a kafkajs client whose logs go to `log` (at warn and above, or debug when `debug`).
 * Logs the state of the kafkajs patches (`patches/mod.ts`): info when all are installed or they
 * are off, a warning naming each one that did not take (kafkajs then runs 2–3× slower).
 *
 * @param brokers bootstrap brokers, `host:port`
 * @param clientId the client id the broker sees
 * @param log our logger
 * @param debug kafkajs' own debug logs
 * @param security TLS and SASL (default: plaintext)
 */
export function createKafka(
  brokers: string[],
  clientId: string,
  log: Logger,
  debug = false,
  security: KafkaSecurity = { ssl: false },
): Kafka {
  const kafkaLog = log.child({ component: "kafkajs" });
  const patches = install();
  const missing = notInstalled(patches);
  if (missing.length === 0) kafkaLog.info("kafkajs patches installed", { patches });
  else if (missing.every((m) => m.endsWith("(off)"))) {
    kafkaLog.info(`kafkajs speed patches off (${PATCHES_ENV}=off): kafkajs' own code there`, { patches });
  } else kafkaLog.warn("kafkajs patches did not all take: plain kafkajs code runs there", { patches, missing });
  return new Kafka({
    clientId,
    brokers,
    ...(security.ssl === false ? {} : { ssl: security.ssl }),
    ...(security.sasl === undefined ? {} : { sasl: saslOptions(security.sasl) }),
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

/** kafkajs' SASL options: a fresh object (kafkajs keeps its authenticator in the one it is given). */
function saslOptions(sasl: NonNullable<KafkaSecurity["sasl"]>): SASLOptions {
  if (sasl.mechanism !== "oauthbearer") return { ...sasl } as SASLOptions;
  const file = sasl.tokenFile;
  // re-read at every authentication, so that a token agent's refresh is picked up
  return {
    mechanism: "oauthbearer",
    oauthBearerProvider: async () => ({ value: (await Deno.readTextFile(file)).trim() }),
  };
}

/** How a new topic is replicated: its replication factor and the topic configs that go with it. */
export interface TopicReplication {
  /** Replicas per partition; -1 is the broker's `default.replication.factor`. */
  replicationFactor: number;
  /** Topic-level configs set at creation. */
  configEntries: { name: string; value: string }[];
}

/**
 * The replication of a topic created on a cluster of `brokers` brokers: on three or more,
 * 3 replicas and `min.insync.replicas=2` (with the producer's acks=all, a write is acknowledged
 * once two replicas have it, so one broker can fail without losing it or stopping the writes);
 * on fewer, the broker's default (one broker: one replica, as a development broker has).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { topicReplication } from "./client.ts";
 * assert.deepEqual(topicReplication(3), {
 *   replicationFactor: 3,
 *   configEntries: [{ name: "min.insync.replicas", value: "2" }],
 * });
 * assert.deepEqual(topicReplication(1), { replicationFactor: -1, configEntries: [] });
 * ```
 */
export function topicReplication(brokers: number): TopicReplication {
  if (brokers >= 3) return { replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] };
  return { replicationFactor: -1, configEntries: [] };
}

/**
 * Creates the topic with `partitions` partitions when it does not exist yet, replicated as
 * {@link topicReplication} says for the cluster's size (`describeCluster`). Existing topics are
 * left as they are (a topic with fewer partitions is reported, not changed).
 *
 * @returns whether the topic was created
 */
export async function ensureTopic(kafka: Kafka, topic: string, partitions: number, log: Logger): Promise<boolean> {
  return await retryRetriable(() => ensureTopicOnce(kafka, topic, partitions, log), {
    log,
    message: "topic not ready yet; trying again",
    fields: { topic },
  });
}

async function ensureTopicOnce(kafka: Kafka, topic: string, partitions: number, log: Logger): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if ((await admin.listTopics()).includes(topic)) {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const have = meta.topics[0]?.partitions.length ?? 0;
      if (have < partitions) log.warn("topic has fewer partitions than configured", { topic, have, partitions });
      return false;
    }
    const { brokers } = await admin.describeCluster();
    const replication = topicReplication(brokers.length);
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, ...replication }],
      waitForLeaders: true,
    });
    if (created) {
      const minInsync = replication.configEntries.find((c) => c.name === "min.insync.replicas")?.value;
      log.info("created topic", {
        topic,
        partitions,
        replicationFactor: replication.replicationFactor === -1 ? "broker default" : replication.replicationFactor,
        ...(minInsync === undefined ? {} : { minInsyncReplicas: Number(minInsync) }),
      });
    }
    return created;
  } finally {
    await admin.disconnect();
  }
}

export { Kafka };
