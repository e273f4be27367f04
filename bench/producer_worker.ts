/**
 * One producer worker of `bench/producer_workers.ts` (a measurement prototype, not used by the
 * pipeline): runs the full simulator with the driver's options, keeps only the messages whose
 * customer's partition (kafkajs' default partitioner, murmur2 like the Java client) modulo the
 * worker count is this worker's index, and publishes them with the pipeline's own
 * {@link Publisher} (idempotent, acks=all, gzip, one request in flight) on its own kafkajs client.
 *
 * Protocol: the driver posts `start`; the worker connects and posts `ready`; the driver posts `go`
 * to every worker at once; the worker posts `done` (or `error`) when all its messages are
 * acknowledged. Permissions are the driver's (`--allow-net=127.0.0.1:9092 --allow-read=. --ignore-env`:
 * a worker reads its module graph from disk, which needs read permission).
 *
 * @module
 */
/// <reference lib="deno.worker" />
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import { Partitioners } from "kafkajs";
import { createKafka } from "../lib/kafka/client.ts";
import { createLogger } from "../lib/ops/log.ts";
import { Publisher } from "../lib/kafka/publisher.ts";
import { publishSimulation } from "../lib/simulator/publish.ts";
import { Simulator, type SimulatorOptions } from "../lib/simulator/simulator.ts";

/** What the driver sends first. */
export interface WorkerStart {
  type: "start";
  /** This worker's index, 0 to workers-1. */
  index: number;
  workers: number;
  partitions: number;
  topic: string;
  broker: string;
  count: number;
  batchSize: number;
  lingerMs: number;
  simulator: Omit<SimulatorOptions, "onEpisode">;
}

/** What a worker reports at the end. */
export interface WorkerDone {
  type: "done";
  index: number;
  /** Messages this worker sent (its share). */
  sent: number;
  acknowledged: number;
  /** Epoch ms (performance.timeOrigin + now) of the first send and of the last acknowledgement. */
  firstSendAt: number;
  ackedAt: number;
}

/**
 * The partition kafkajs' default partitioner gives `key` on a topic of `partitions` partitions
 * (all with a leader).
 */
export function partitionOf(key: string, partitions: number): number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
    partitionId: i,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
    offlineReplicas: [],
  }));
  return partitioner({ topic: "t", partitionMetadata, message: { key, value: null } });
}

const epochNow = () => performance.timeOrigin + performance.now();

async function run(start: WorkerStart): Promise<void> {
  const log = createLogger({ level: "warn" }, { worker: start.index });
  const kafka = createKafka([start.broker], `heartbeat-bench-worker-${start.index}`, log);
  const publisher = new Publisher({
    kafka,
    topic: start.topic,
    batchSize: start.batchSize,
    lingerMs: start.lingerMs,
    compression: "gzip",
    log,
  });
  await publisher.connect();
  const go = new Promise<void>((resolve) => {
    self.onmessage = (e: MessageEvent<{ type: string }>) => {
      if (e.data.type === "go") resolve();
    };
  });
  self.postMessage({ type: "ready", index: start.index });
  await go;

  // customer key → whether it is ours, decided once per key
  const mine = new Map<string, boolean>();
  const firstSendAt = epochNow();
  const simulator = new Simulator(start.simulator);
  const sent = await publishSimulation({
    simulator,
    publisher,
    done: (seq) => simulator.isPastEnd(seq, start.count, undefined),
    signal: new AbortController().signal,
    include: (m) => {
      let ours = mine.get(m.key);
      if (ours === undefined) {
        ours = partitionOf(m.key, start.partitions) % start.workers === start.index;
        mine.set(m.key, ours);
      }
      return ours;
    },
  });
  const done: WorkerDone = {
    type: "done",
    index: start.index,
    sent,
    acknowledged: publisher.acknowledged,
    firstSendAt,
    ackedAt: epochNow(),
  };
  self.postMessage(done);
}

self.onmessage = (e: MessageEvent<WorkerStart>) => {
  if (e.data.type !== "start") return;
  run(e.data).catch((error) => {
    self.postMessage({ type: "error", index: e.data.index, error: String(error?.stack ?? error) });
  });
};
