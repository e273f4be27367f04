/**
 * Kafka: the only folder that talks to the brokers. `client.ts` builds the kafkajs clients (the
 * patches installed first, their state logged) and creates topics; `consumer_loop.ts` is the
 * consumer-group member that hands batches to the sink through `batch_handler.ts` and commits
 * offsets only after the database committed (`commit_chain.ts` keeps them in order); the
 * {@link Publisher} is the idempotent batching producer; {@link AlertPublisher} sends episode
 * events; `patches/` holds the fenced kafkajs patches.
 *
 * Requires `--allow-net=<every broker host:port>`.
 *
 * @module
 */
import "./patches/preload.ts"; // before kafkajs: see the module
export {
  createKafka,
  ensureTopic,
  Kafka,
  type KafkaClientOptions,
  type KafkaSecurity,
  openKafka,
  type TopicReplication,
  topicReplication,
} from "./client.ts";
export { BrokerHandshakeError, checkBrokers } from "./preflight.ts";
export { type ConsumeOptions, type ConsumerHooks, type RunningConsumer, startConsumer } from "./consumer_loop.ts";
export { type RecordSink, toSourceRecord } from "./batch_handler.ts";
export { cachingKeyPartitioner, MAX_REQUEST_BYTES, Publisher, type PublisherOptions } from "./publisher.ts";
export { type AlertEventMessage, AlertPublisher, toEventMessage } from "./alert_events.ts";
export { install as installPatches, notInstalled, type PatchReport, type PatchState } from "./patches/mod.ts";
