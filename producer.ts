#!/usr/bin/env -S deno run --allow-net=127.0.0.1:9092,127.0.0.1:9465 --allow-env=HEARTBEAT_ANOMALY_RATE,HEARTBEAT_ARTEFACT_RATE,HEARTBEAT_CLOCK_SKEW,HEARTBEAT_COMPRESSION,HEARTBEAT_COUNT,HEARTBEAT_CUSTOMERS,HEARTBEAT_DROPOUT_RATE,HEARTBEAT_DRY_RUN,HEARTBEAT_DUPLICATE_RATE,HEARTBEAT_DURATION,HEARTBEAT_INVALID_RATE,HEARTBEAT_KAFKAJS_PATCHES,HEARTBEAT_LATE_RATE,HEARTBEAT_METRICS_HOST,HEARTBEAT_PARTITIONS,HEARTBEAT_PRODUCER_BATCH_SIZE,HEARTBEAT_PRODUCER_LINGER_MS,HEARTBEAT_PRODUCER_METRICS_PORT,HEARTBEAT_RATE,HEARTBEAT_SEED,HEARTBEAT_START,HEARTBEAT_TIME_ZONES,KAFKA_ALLOW_PLAINTEXT_SASL,KAFKA_BROKERS,KAFKA_OAUTH_TOKEN_FILE,KAFKA_SASL_MECHANISM,KAFKA_SASL_PASSWORD,KAFKA_SASL_PASSWORD_FILE,KAFKA_SASL_USERNAME,KAFKA_SECURITY_PROTOCOL,KAFKA_SSL_CA_FILE,KAFKA_SSL_CERT_FILE,KAFKA_SSL_KEY_FILE,KAFKA_SSL_KEY_PASSWORD,KAFKA_SSL_KEY_PASSWORD_FILE,KAFKA_SSL_SERVERNAME,KAFKA_TOPIC,LOG_LEVEL --ignore-env
/**
 * The producer: simulates heart-rate monitors and publishes their readings to Kafka (keyed by
 * customer, batched, compressed, idempotent), or prints them as NDJSON with `--dry-run`. While
 * publishing it serves `/metrics`, `/healthz` and `/readyz` on `--metrics-port`.
 * Run `deno task producer --help` for its settings.
 *
 * @module
 */
import {
  fatal,
  loadConfig,
  orExit,
  producerOptions,
  resolveKafkaSecurity,
  simulation,
  USAGE,
} from "./lib/config/mod.ts";
import { ensureTopic, openKafka, Publisher } from "./lib/kafka/mod.ts";
import {
  createLogger,
  formatCount,
  formatDuration,
  onShutdown,
  ProducerMetrics,
  Progress,
  requireNet,
  startOpsServer,
} from "./lib/ops/mod.ts";
import { type Episode, printDryRun, publishSimulation, Simulator } from "./lib/simulator/mod.ts";

async function main(): Promise<void> {
  const config = loadConfig(USAGE.producer, producerOptions);
  const log = createLogger({ level: config.logLevel });
  // injected anomaly episodes: the ground truth, printed with --dry-run
  const episodes: Episode[] = [];
  const sim = new Simulator({
    ...simulation(config),
    ...(config.dryRun ? { onEpisode: (e: Episode) => episodes.push(e) } : {}),
  });
  using shutdown = onShutdown(log);
  const done = (seq: number) => sim.isPastEnd(seq, config.count, config.duration);
  if (config.dryRun) return await printDryRun({ simulator: sim, episodes, done, signal: shutdown.signal });

  await requireNet(config.brokers, "--brokers (KAFKA_BROKERS)").catch((e: Error) => fatal(e.message, 2));
  const security = orExit(() => resolveKafkaSecurity(config));
  const metrics = new ProducerMetrics();
  await using _ops = await startOpsServer(config, metrics, log).catch((e: Error) => fatal(e.message, 2));
  shutdown.signal.addEventListener("abort", () => metrics.stopping(), { once: true });
  const debug = config.logLevel === "debug";
  const kafka = await openKafka({ brokers: config.brokers, clientId: "heartbeat-producer", log, security, debug })
    .catch((e: Error) => fatal(e.message));
  await ensureTopic(kafka, config.topic, config.partitions, log);
  let failed = 0, sent = 0;
  const { topic, batchSize, lingerMs, compression } = config;
  const publisher = new Publisher({
    ...{ kafka, topic, batchSize, lingerMs, compression, log },
    onAck: (n) => metrics.acknowledged(n),
    onFail: (n) => (failed += n, metrics.failed(n)),
  });
  metrics.queued = () => publisher.queued;
  await publisher.connect();
  metrics.setConnected(true);
  const { brokers, customers, rate, seed, count } = config;
  log.info("producing", { topic, brokers, customers, rate, seed, count, start: new Date(config.start).toISOString() });

  const began = performance.now();
  const summary = () => {
    const elapsedS = (performance.now() - began) / 1000, acknowledged = publisher.acknowledged;
    return { sent, acknowledged, failed, elapsedS, perSecond: Math.round(acknowledged / Math.max(elapsedS, 1e-3)) };
  };
  const progress = new Progress(log, () => {
    const s = summary();
    const eta = count === undefined ? "" : ` eta ${formatDuration((count - s.acknowledged) / s.perSecond)}`;
    const line = `sent ${formatCount(s.sent)}  acked ${formatCount(s.acknowledged)}  ${formatCount(s.perSecond)}/s`;
    const fields = { ...s, elapsedS: Math.round(s.elapsedS) };
    return { line: `${line}  errors ${failed}  elapsed ${formatDuration(s.elapsedS)}${eta}`, fields };
  });
  progress.start();
  let error: unknown = null;
  try {
    await publishSimulation({
      simulator: sim,
      publisher,
      done,
      signal: shutdown.signal,
      onSent: (m) => (metrics.produced(1, m.truth.valid ? 0 : 1), sent++),
    });
  } catch (e) {
    error = e;
  } finally {
    progress.stop();
    metrics.setConnected(false);
  }
  const last = summary();
  const s = { ...last, elapsedS: Number(last.elapsedS.toFixed(2)) };
  if (error !== null) {
    log.error("stopped with an error", { ...s, error });
    Deno.exit(1);
  }
  log.info("done", s);
}

if (import.meta.main) {
  main().catch((error) => fatal(error instanceof Error ? error.message : String(error)));
}
