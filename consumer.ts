#!/usr/bin/env -S deno run --v8-flags=--max-semi-space-size=8,--heap-growing-percent=30 --allow-net=127.0.0.1:5432,127.0.0.1:9092,127.0.0.1:9464 --allow-env=DATABASE_PASSFILE,DATABASE_PASSWORD,DATABASE_PASSWORD_FILE,DATABASE_SSLCERT,DATABASE_SSLKEY,DATABASE_SSLMODE,DATABASE_SSLROOTCERT,DATABASE_URL,HEARTBEAT_CONSUMER_BATCH_SIZE,HEARTBEAT_CONSUMER_BATCH_WAIT_MS,HEARTBEAT_CONSUMER_FETCH_BYTES,HEARTBEAT_CONSUMER_MAINTAIN_EVERY,HEARTBEAT_CONSUMER_METRICS_PORT,HEARTBEAT_CONSUMER_WRITERS,HEARTBEAT_EPISODE_END_AFTER,HEARTBEAT_EPISODE_MIN_DURATION,HEARTBEAT_EPISODE_MIN_READINGS,HEARTBEAT_FAILPOINT,HEARTBEAT_FROM_BEGINNING,HEARTBEAT_FUTURE_SKEW,HEARTBEAT_KAFKAJS_PATCHES,HEARTBEAT_MAX_MESSAGE_BYTES,HEARTBEAT_METRICS_HOST,HEARTBEAT_PARTITIONS,KAFKA_ALERTS_TOPIC,KAFKA_ALLOW_PLAINTEXT_SASL,KAFKA_BROKERS,KAFKA_GROUP_ID,KAFKA_OAUTH_TOKEN_FILE,KAFKA_SASL_MECHANISM,KAFKA_SASL_PASSWORD,KAFKA_SASL_PASSWORD_FILE,KAFKA_SASL_USERNAME,KAFKA_SECURITY_PROTOCOL,KAFKA_SESSION_TIMEOUT,KAFKA_SSL_CA_FILE,KAFKA_SSL_CERT_FILE,KAFKA_SSL_KEY_FILE,KAFKA_SSL_KEY_PASSWORD,KAFKA_SSL_KEY_PASSWORD_FILE,KAFKA_SSL_SERVERNAME,KAFKA_TOPIC,LOG_LEVEL --ignore-env
/**
 * The consumer: a Kafka consumer-group member that validates every reading, stores valid ones in
 * PostgreSQL and rejected ones in the dead-letter table, in batches, and commits Kafka offsets
 * only after the database committed. It serves `/metrics`, `/healthz` and `/readyz` on
 * `--metrics-port`. Run `deno task consumer --help` for its settings; docs/architecture.md for how.
 *
 * @module
 */
import {
  CONSUMER_DATABASE,
  consumerOptions,
  databaseHost,
  detectorSettings,
  fatal,
  loadConfig,
  orExit,
  resolveDatabaseSecurity,
  resolveKafkaSecurity,
  USAGE,
} from "./lib/config/mod.ts";
import { createValidator, EpisodeTracker, REASON_CODES } from "./lib/domain/mod.ts";
import { AlertPublisher, ensureTopic, openKafka, startConsumer } from "./lib/kafka/mod.ts";
import { ConsumerMetrics, createLogger, onShutdown, Progress, requireNet, startOpsServer } from "./lib/ops/mod.ts";
import { BatchTotals, logBatch, Sink } from "./lib/sink/mod.ts";
import { redactUrl, Repository, startPartitionMaintenance, waitForSchema } from "./lib/storage/mod.ts";

async function main(): Promise<void> {
  const config = loadConfig(USAGE.consumer, consumerOptions);
  const log = createLogger({ level: config.logLevel });
  const denied = (e: Error) => fatal(e.message, 2);
  await requireNet(config.brokers, "--brokers (KAFKA_BROKERS)").catch(denied);
  await requireNet([databaseHost(config.databaseUrl)], "--database-url (DATABASE_URL)").catch(denied);
  const security = orExit(() => resolveKafkaSecurity(config));
  const database = orExit(() => resolveDatabaseSecurity(config, CONSUMER_DATABASE));
  const metrics = new ConsumerMetrics({ kafkaSilenceMs: config.sessionTimeout, reasons: REASON_CODES });
  await using _ops = await startOpsServer(config, metrics, log).catch(denied);
  using shutdown = onShutdown(log, 30_000);
  shutdown.signal.addEventListener("abort", () => metrics.stopping(), { once: true });

  const { url, ...connection } = database;
  const repository = Repository.connect(url, {
    ...connection,
    applicationName: "heartbeat-consumer",
    poolSize: config.writers + 1, // one per writer, one for the episode history
    writeTimeoutMs: 60_000, // a batch statement on a link that carries nothing fails, and is retried on a new one
    onIdleError: (error) => {
      metrics.databaseConnectionError();
      log.warn("idle database connection failed", { error });
    },
  });
  log.info("connecting", { database: redactUrl(config.databaseUrl), brokers: config.brokers, topic: config.topic });
  await waitForSchema(repository, log, shutdown.signal).catch((e: Error) => fatal(e.message));
  if (shutdown.signal.aborted) return;
  metrics.setDatabaseReady(true);
  const partitions = await startPartitionMaintenance(repository, { everyMs: config.maintainEvery, log });

  const debug = config.logLevel === "debug";
  const kafka = await openKafka({ brokers: config.brokers, clientId: "heartbeat-consumer", log, security, debug })
    .catch((e: Error) => fatal(e.message));
  await ensureTopic(kafka, config.topic, config.partitions, log);
  const alerts = config.alertsTopic === "none" ? undefined : new AlertPublisher(kafka, config.alertsTopic);
  if (alerts !== undefined) await ensureTopic(kafka, config.alertsTopic, config.partitions, log);
  await alerts?.connect();
  const episodes = new EpisodeTracker(repository, detectorSettings(config));

  const totals = new BatchTotals();
  const sink = new Sink({
    episodes,
    ...(alerts === undefined ? {} : { publishEvents: (events) => alerts.publish(events) }),
    store: repository,
    validate: createValidator({ maxMessageBytes: config.maxMessageBytes, futureSkewMs: config.futureSkew }),
    batchSize: config.batchSize,
    batchWaitMs: config.batchWaitMs,
    writers: config.writers,
    log,
    signal: shutdown.signal,
    onReadyChange: (ready) => metrics.setDatabaseReady(ready),
    onBatch: (b) => (metrics.recordBatch(b), totals.add(b), logBatch(log, b)),
  });
  const hooks = metrics.consumerHooks();
  const running = await startConsumer({
    ...hooks,
    kafka,
    topic: config.topic,
    groupId: config.group,
    fromBeginning: config.fromBeginning,
    sessionTimeoutMs: config.sessionTimeout,
    fetchBytes: config.fetchBytes,
    // fetching goes on while the writers are busy and one more batch waits
    maxPendingRecords: (config.writers + 1) * config.batchSize,
    pauseAfterDbCommitMs: config.failpoint,
    sink,
    log,
    // another member may have moved our customers on: rebuild their episodes from the database
    onAssignment: (partitions) => (hooks.onAssignment(partitions), episodes.reset()),
  });
  const progress = new Progress(log, () => totals.status({ ready: sink.ready }));
  progress.start();
  await shutdown.done;
  progress.stop();
  await running.stop();
  await sink.close().catch(() => {});
  await alerts?.disconnect().catch(() => {});
  await partitions.stop();
  await repository.close();
  log.info("stopped", { ...totals.fields(), upS: Number(totals.elapsedS.toFixed(1)) });
}

if (import.meta.main) {
  // Everything is committed, the group left and the pools closed once main() returns. After a
  // broker restart kafkajs can keep a reconnect timer or socket alive (seen in the fault suite:
  // "stopped" logged, process still running 30 s later), so exit rather than wait for it.
  main().then(() => Deno.exit(0), (error) => fatal(error instanceof Error ? error.message : String(error)));
}
