#!/usr/bin/env -S deno run --v8-flags=--max-semi-space-size=8,--heap-growing-percent=30 --allow-net=127.0.0.1:9092,127.0.0.1:5432,127.0.0.1:9464 --allow-env=KAFKA_BROKERS,KAFKA_TOPIC,KAFKA_GROUP_ID,LOG_LEVEL,DATABASE_URL,HEARTBEAT_PARTITIONS,HEARTBEAT_CONSUMER_BATCH_SIZE,HEARTBEAT_CONSUMER_BATCH_WAIT_MS,HEARTBEAT_CONSUMER_WRITERS,HEARTBEAT_MAX_MESSAGE_BYTES,HEARTBEAT_FUTURE_SKEW,HEARTBEAT_FROM_BEGINNING,HEARTBEAT_EPISODE_MIN_READINGS,HEARTBEAT_EPISODE_MIN_DURATION,HEARTBEAT_EPISODE_END_AFTER,KAFKA_ALERTS_TOPIC,KAFKA_SESSION_TIMEOUT,HEARTBEAT_CONSUMER_FETCH_BYTES,HEARTBEAT_FAILPOINT,HEARTBEAT_METRICS_HOST,HEARTBEAT_CONSUMER_METRICS_PORT --ignore-env
/**
 * The consumer: a Kafka consumer-group member that validates every reading, stores valid ones in
 * PostgreSQL and rejected ones in the dead-letter table, in batches, and commits Kafka offsets
 * only after the database committed. It serves `/metrics`, `/healthz` and `/readyz` on
 * `--metrics-port` (lib/http.ts). Run `deno task consumer --help` for its settings.
 *
 * @module
 */
import { AlertPublisher } from "./lib/kafka/alert_events.ts";
import { fatal, loadConfig } from "./lib/config/cli.ts";
import { consumerOptions } from "./lib/config/options.ts";
import { startConsumer } from "./lib/kafka/consumer_loop.ts";
import { startOpsServer } from "./lib/ops/http.ts";
import { EpisodeTracker } from "./lib/domain/episodes.ts";
import { createKafka, ensureTopic } from "./lib/kafka/client.ts";
import { createLogger } from "./lib/ops/log.ts";
import { ConsumerMetrics } from "./lib/ops/metrics.ts";
import { databaseHost, requireNet } from "./lib/ops/permissions.ts";
import { formatCount, formatDuration, Progress } from "./lib/ops/progress.ts";
import { createValidator } from "./lib/domain/reading.ts";
import { redactUrl, Repository, waitForSchema } from "./lib/storage/mod.ts";
import { onShutdown } from "./lib/ops/shutdown.ts";
import { Sink } from "./lib/sink/sink.ts";

const USAGE =
  "usage: deno task consumer [options]\n\nValidates heart-rate readings from Kafka and stores them in PostgreSQL.";

async function main(): Promise<void> {
  const config = loadConfig(USAGE, consumerOptions);
  const log = createLogger({ level: config.logLevel });
  await requireNet(config.brokers, "--brokers (KAFKA_BROKERS)").catch((e: Error) => fatal(e.message, 2));
  await requireNet([databaseHost(config.databaseUrl)], "--database-url (DATABASE_URL)")
    .catch((e: Error) => fatal(e.message, 2));
  const metrics = new ConsumerMetrics({ kafkaSilenceMs: config.sessionTimeout });
  await using _ops = await startOpsServer(config, metrics, log).catch((e: Error) => fatal(e.message, 2));
  using shutdown = onShutdown(log, 30_000);
  shutdown.signal.addEventListener("abort", () => metrics.stopping(), { once: true });

  const repository = Repository.connect(config.databaseUrl, {
    applicationName: "heartbeat-consumer",
    poolSize: config.writers + 1, // one per writer, one for the episode history
    onIdleError: (error) => {
      metrics.databaseConnectionError();
      log.warn("idle database connection failed", { error });
    },
  });
  log.info("connecting", { database: redactUrl(config.databaseUrl), brokers: config.brokers, topic: config.topic });
  await waitForSchema(repository, log, shutdown.signal).catch((e: Error) => fatal(e.message));
  if (shutdown.signal.aborted) return;
  metrics.setDatabaseReady(true);

  const kafka = createKafka(config.brokers, "heartbeat-consumer", log, config.logLevel === "debug");
  await ensureTopic(kafka, config.topic, config.partitions, log);
  let alerts: AlertPublisher | undefined;
  if (config.alertsTopic !== "none") {
    await ensureTopic(kafka, config.alertsTopic, config.partitions, log);
    alerts = new AlertPublisher(kafka, config.alertsTopic);
    await alerts.connect();
  }
  const episodes = new EpisodeTracker(repository, {
    minReadings: config.episodeMinReadings,
    minDurationMs: config.episodeMinDuration,
    endAfterNormal: config.episodeEndAfter,
  });

  const totals = { records: 0, inserted: 0, duplicates: 0, rejected: 0, batches: 0, alertEvents: 0 };
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
    onBatch: (b) => {
      metrics.recordBatch(b);
      totals.records += b.records;
      totals.inserted += b.inserted;
      totals.duplicates += b.duplicates;
      totals.rejected += b.rejected;
      totals.batches++;
      totals.alertEvents += b.events.length;
      for (const e of b.events) {
        log.info(e.type === "open" ? "alert opened" : "alert closed", {
          customer: e.alert.customerId,
          kind: e.alert.kind,
          severity: e.alert.severity,
          startedAt: e.alert.startedAt,
          peak: e.alert.peak,
        });
      }
      log.debug("batch committed", {
        records: b.records,
        inserted: b.inserted,
        rejected: b.rejected,
        writeMs: Math.round(b.writeMs),
      });
    },
  });
  const hooks = metrics.consumerHooks();
  const running = await startConsumer({
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
    ...hooks,
    onAssignment: (partitions) => {
      hooks.onAssignment?.(partitions);
      episodes.reset(); // another member may have moved our customers on: rebuild from the database
    },
  });
  const began = performance.now();
  const progress = new Progress(log, () => {
    const elapsed = (performance.now() - began) / 1000;
    return {
      line: `consumed ${formatCount(totals.records)}  stored ${formatCount(totals.inserted)}  rejected ${
        formatCount(totals.rejected)
      }  duplicates ${formatCount(totals.duplicates)}  ${formatCount(totals.records / Math.max(elapsed, 1e-3))}/s  up ${
        formatDuration(elapsed)
      }`,
      fields: { ...totals, ready: sink.ready },
    };
  }, 10_000);
  progress.start();

  if (!shutdown.signal.aborted) {
    await new Promise((resolve) => shutdown.signal.addEventListener("abort", resolve, { once: true }));
  }
  progress.stop();
  await running.stop();
  await sink.close().catch(() => {});
  await alerts?.disconnect().catch(() => {});
  await repository.close();
  log.info("stopped", { ...totals, upS: Number(((performance.now() - began) / 1000).toFixed(1)) });
}

if (import.meta.main) {
  // Everything is committed, the group left and the pools closed once main() returns. After a
  // broker restart kafkajs can keep a reconnect timer or socket alive (seen in the fault suite:
  // "stopped" logged, process still running 30 s later), so exit rather than wait for it.
  main().then(
    () => Deno.exit(0),
    (error) => fatal(error instanceof Error ? error.message : String(error)),
  );
}
