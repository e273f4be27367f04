#!/usr/bin/env -S deno run --allow-net=127.0.0.1:9092,127.0.0.1:9465 --allow-env=KAFKA_BROKERS,KAFKA_TOPIC,LOG_LEVEL,HEARTBEAT_CUSTOMERS,HEARTBEAT_RATE,HEARTBEAT_COUNT,HEARTBEAT_DURATION,HEARTBEAT_SEED,HEARTBEAT_START,HEARTBEAT_ANOMALY_RATE,HEARTBEAT_INVALID_RATE,HEARTBEAT_PARTITIONS,HEARTBEAT_PRODUCER_BATCH_SIZE,HEARTBEAT_PRODUCER_LINGER_MS,HEARTBEAT_COMPRESSION,HEARTBEAT_DRY_RUN,HEARTBEAT_METRICS_HOST,HEARTBEAT_PRODUCER_METRICS_PORT --ignore-env
/**
 * The producer: simulates heart-rate monitors and publishes their readings to Kafka (keyed by
 * customer, batched, compressed, idempotent), or prints them as NDJSON with `--dry-run`. While
 * publishing it serves `/metrics`, `/healthz` and `/readyz` on `--metrics-port` (lib/http.ts).
 * Run `deno task producer --help` for its settings.
 *
 * @module
 */
import { fatal, loadConfig } from "./lib/config/cli.ts";
import { producerOptions } from "./lib/config/options.ts";
import { startOpsServer } from "./lib/ops/http.ts";
import { createKafka, ensureTopic } from "./lib/kafka/client.ts";
import { createLogger } from "./lib/ops/log.ts";
import { ProducerMetrics } from "./lib/ops/metrics.ts";
import { requireNet } from "./lib/ops/permissions.ts";
import { formatCount, formatDuration, Progress } from "./lib/ops/progress.ts";
import { Publisher } from "./lib/kafka/publisher.ts";
import { publishSimulation } from "./lib/simulator/publish.ts";
import { onShutdown } from "./lib/ops/shutdown.ts";
import { type Episode, Simulator } from "./lib/simulator/simulator.ts";
import { printDryRun } from "./lib/simulator/dry_run.ts";

const USAGE =
  "usage: deno task producer [options]\n\nSimulates heart-rate monitors and publishes their readings to Kafka.";

async function main(): Promise<void> {
  const config = loadConfig(USAGE, producerOptions);
  const log = createLogger({ level: config.logLevel });
  // injected anomaly episodes: the ground truth, printed with --dry-run
  const episodes: Episode[] = [];
  const sim = new Simulator({
    seed: config.seed,
    customers: config.customers,
    rate: config.rate,
    startMs: config.start,
    anomalyRate: config.anomalyRate,
    invalidRate: config.invalidRate,
    ...(config.dryRun ? { onEpisode: (e: Episode) => episodes.push(e) } : {}),
  });
  using shutdown = onShutdown(log);

  const done = (seq: number) => sim.isPastEnd(seq, config.count, config.duration);
  if (config.dryRun) return await printDryRun({ simulator: sim, episodes, done, signal: shutdown.signal });

  await requireNet(config.brokers, "--brokers (KAFKA_BROKERS)").catch((e: Error) => fatal(e.message, 2));
  const metrics = new ProducerMetrics();
  await using _ops = await startOpsServer(config, metrics, log).catch((e: Error) => fatal(e.message, 2));
  shutdown.signal.addEventListener("abort", () => metrics.stopping(), { once: true });
  const kafka = createKafka(config.brokers, "heartbeat-producer", log, config.logLevel === "debug");
  await ensureTopic(kafka, config.topic, config.partitions, log);
  let failed = 0;
  const publisher = new Publisher({
    kafka,
    topic: config.topic,
    batchSize: config.batchSize,
    lingerMs: config.lingerMs,
    compression: config.compression,
    log,
    onAck: (n) => metrics.acknowledged(n),
    onFail: (n) => {
      failed += n;
      metrics.failed(n);
    },
  });
  metrics.queued = () => publisher.queued;
  await publisher.connect();
  metrics.setConnected(true);
  log.info("producing", {
    topic: config.topic,
    brokers: config.brokers,
    customers: config.customers,
    rate: config.rate,
    seed: config.seed,
    count: config.count,
    start: new Date(config.start).toISOString(),
  });

  const began = performance.now();
  let sent = 0;
  const progress = new Progress(log, () => {
    const elapsed = (performance.now() - began) / 1000;
    const rate = publisher.acknowledged / Math.max(elapsed, 1e-3);
    const eta = config.count === undefined
      ? ""
      : ` eta ${formatDuration((config.count - publisher.acknowledged) / rate)}`;
    return {
      line: `sent ${formatCount(sent)}  acked ${formatCount(publisher.acknowledged)}  ${
        formatCount(rate)
      }/s  errors ${failed}  elapsed ${formatDuration(elapsed)}${eta}`,
      fields: {
        sent,
        acknowledged: publisher.acknowledged,
        perSecond: Math.round(rate),
        failed,
        elapsedS: Math.round(elapsed),
      },
    };
  });
  progress.start();
  let error: unknown = null;
  try {
    await publishSimulation({
      simulator: sim,
      publisher,
      done,
      signal: shutdown.signal,
      onSent: (m) => {
        metrics.produced(1, m.truth.valid ? 0 : 1);
        sent++;
      },
    });
  } catch (e) {
    error = e;
  } finally {
    progress.stop();
    metrics.setConnected(false);
  }
  const elapsed = (performance.now() - began) / 1000;
  const summary = {
    sent,
    acknowledged: publisher.acknowledged,
    failed,
    elapsedS: Number(elapsed.toFixed(2)),
    perSecond: Math.round(publisher.acknowledged / Math.max(elapsed, 1e-3)),
  };
  if (error !== null) {
    log.error("stopped with an error", { ...summary, error });
    Deno.exit(1);
  }
  log.info("done", summary);
}

if (import.meta.main) {
  main().catch((error) => fatal(error instanceof Error ? error.message : String(error)));
}
