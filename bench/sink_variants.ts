#!/usr/bin/env -S deno run --allow-net=127.0.0.1:9092,127.0.0.1:5432 --allow-read=. --ignore-env
/**
 * A prototype, for measurement only: the consumer's pipeline (lib's validator, `Sink`,
 * `EpisodeTracker` and `Repository`, wired as consumer.ts wires them) in this process, with the
 * knobs that lib/consume.ts fixes, to measure a change to the consumer loop before it is made in
 * lib (docs/performance.md has the figures it gave):
 *
 * - `--mode blocking`: `eachBatch` awaits the database COMMIT, so kafkajs fetches nothing while a
 *   batch is written (lib/consume.ts before 2026-11-26 04:00 UTC);
 * - `--mode pipelined`: `eachBatch` returns as soon as the records are queued in the sink and
 *   commits each batch's offset when the sink has committed its records (only after the database
 *   COMMIT, but without lib's per-partition ordering: lib/consume.ts, pipelined since 2026-11-26,
 *   commits a partition's offsets in order through lib/commit_chain.ts); the fetch loop waits
 *   while more than `--max-pending` records are queued (back-pressure, which also bounds memory);
 * - `--max-bytes-per-partition`: kafkajs' fetch size per partition (compressed bytes; lib's
 *   `--fetch-bytes`, default 64 KiB).
 *
 * It drains an already filled topic (e.g. one left by `deno task bench --skip sink,...`, or filled
 * with `deno task producer --count 1000000 --start 2026-01-01T00:00:00Z --rate 100000`) into a
 * fresh database and prints records/s from connect to every offset committed, the batches, and
 * this process's peak RSS.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:9092,127.0.0.1:5432 --allow-read=. --ignore-env bench/sink_variants.ts \
 *   --topic <filled topic> --mode pipelined --batch-size 5000 --max-pending 20000
 * ```
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import process from "node:process";
import { parseArgs } from "node:util";
import { type EachBatchPayload, Kafka, logLevel } from "kafkajs";
import { EpisodeTracker } from "../lib/domain/episodes.ts";
import { toSourceRecord } from "../lib/kafka/mod.ts";
import { createLogger } from "../lib/ops/log.ts";
import { createValidator } from "../lib/domain/reading.ts";
import { Repository } from "../lib/storage/mod.ts";
import { Sink } from "../lib/sink/sink.ts";
import { connect, countRows, freshDatabase } from "./db.ts";

const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  if (String(warning).includes("is a negative number")) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    topic: { type: "string" },
    mode: { type: "string", default: "pipelined" },
    "batch-size": { type: "string", default: "5000" },
    "batch-wait-ms": { type: "string", default: "100" },
    "max-pending": { type: "string", default: "20000" },
    "max-bytes-per-partition": { type: "string", default: "1048576" },
  },
});
if (v.topic === undefined) throw new TypeError("Cannot run: --topic <a filled topic> is required");
if (v.mode !== "blocking" && v.mode !== "pipelined") {
  throw new TypeError(`Cannot run mode ${v.mode}: expected blocking or pipelined`);
}
const topic = v.topic;
const pipelined = v.mode === "pipelined";
const batchSize = Number(v["batch-size"]), maxPending = Number(v["max-pending"]);
const id = Date.now().toString(36);
const log = createLogger({ level: "warn", pretty: false });

const kafka = new Kafka({ clientId: "heartbeat-bench-sink", brokers: ["127.0.0.1:9092"], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const ends = await admin.fetchTopicOffsets(topic);
const total = ends.reduce((n, p) => n + Number(BigInt(p.high) - BigInt(p.low)), 0);

await using db = await freshDatabase("postgres://postgres@127.0.0.1:5432", `bench_sink_variant_${id}`);
const repository = Repository.connect(db.url, { applicationName: "heartbeat-bench-sink" });
const batches: number[] = [];
let peakRss = 0;
const rssTimer = setInterval(() => peakRss = Math.max(peakRss, Deno.memoryUsage().rss), 250);
const sink = new Sink({
  episodes: new EpisodeTracker(repository),
  store: repository,
  validate: createValidator(),
  batchSize,
  batchWaitMs: Number(v["batch-wait-ms"]),
  log,
  onBatch: (b) => batches.push(b.records),
});
const group = `bench-sink-variant-${id}`;
const consumer = kafka.consumer({
  groupId: group,
  sessionTimeout: 30_000,
  rebalanceTimeout: 60_000,
  heartbeatInterval: 3_000,
  maxBytesPerPartition: Number(v["max-bytes-per-partition"]),
  maxBytes: 16 * 1_048_576,
  maxWaitTimeInMs: 100,
});

const inflight = new Set<Promise<void>>();
const commit = (partition: number, next: string) =>
  consumer.commitOffsets([{ topic, partition, offset: next }]).catch(() => {});

const eachBatch = async ({ batch, heartbeat, resolveOffset, isRunning, isStale }: EachBatchPayload) => {
  if (batch.messages.length === 0 || !isRunning() || isStale()) return;
  const records = batch.messages.map((m) => toSourceRecord(batch.topic, batch.partition, m));
  const last = batch.messages[batch.messages.length - 1]!.offset;
  const next = (BigInt(last) + 1n).toString();
  if (!pipelined) {
    await sink.submit(records, heartbeat);
    resolveOffset(last);
    await commit(batch.partition, next);
    return;
  }
  // the sink writes batches one at a time, in order, so a partition's commits stay in order
  const done: Promise<void> = sink.submit(records, heartbeat).then(() => commit(batch.partition, next));
  inflight.add(done);
  void done.finally(() => inflight.delete(done));
  resolveOffset(last);
  while (sink.pending > maxPending && inflight.size > 0) await Promise.race(inflight);
};

const began = performance.now();
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 16, eachBatch });
for (;;) {
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  const done = ends.every((end) => {
    if (BigInt(end.high) <= BigInt(end.low)) return true;
    const c = committed?.partitions.find((p) => p.partition === end.partition);
    return c !== undefined && c.offset !== "-1" && BigInt(c.offset) >= BigInt(end.high);
  });
  if (done) break;
  await new Promise((r) => setTimeout(r, 200));
}
const seconds = (performance.now() - began) / 1000;
clearInterval(rssTimer);
await consumer.disconnect();
await sink.close();
const client = await connect(db.url);
const rows = await countRows(client);
await client.end();
await repository.close();
await admin.deleteGroups([group]).catch(() => {});
await admin.disconnect();
batches.sort((a, b) => a - b);
console.log(JSON.stringify({
  mode: v.mode,
  batchSize,
  batchWaitMs: Number(v["batch-wait-ms"]),
  maxPending: pipelined ? maxPending : null,
  maxBytesPerPartition: Number(v["max-bytes-per-partition"]),
  records: total,
  stored: rows.readings + rows.deadLetters,
  seconds: Number(seconds.toFixed(1)),
  perSecond: Math.round(total / seconds),
  batches: batches.length,
  batchP50: batches[Math.floor(batches.length / 2)],
  batchMax: batches.at(-1),
  peakRssMiB: Math.round(peakRss / 1_048_576),
}));
