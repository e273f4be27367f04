#!/usr/bin/env -S deno run --v8-flags=--max-semi-space-size=8,--heap-growing-percent=30 --ignore-env
/**
 * `deno task bench:consumer-cpu`: the consumer's CPU per record on its steady-state path, without
 * its I/O, so that a change to that path can be judged on a figure that does not move with the
 * machine's other work (the sink phases of `deno task bench` vary by ±10 % run to run here).
 *
 * It encodes the simulator's messages (the bench's workload: 1,000 customers, seed 1, 1 % invalid)
 * into zstd record batches with kafkajs' own encoder, as the producer sends them by default, then times, in
 * this process, what the consumer does with a fetched partition: kafkajs' record batch decoder
 * (decompression included) and its `Batch`, `toSourceRecord`, the `Sink` (validation with zod,
 * episode detection, batching) and the statement parameters' binary encoding (`readingColumns`,
 * `deadLetterColumns`) of each batch it would write. The database is a stand-in that encodes and
 * returns; nothing goes over a socket. The consumer's V8 flags are the same (its shebang).
 *
 * Prints CPU-seconds (user + system of this process, GC and any helper thread included) per
 * 100,000 records for each of `--rounds` rounds after a warm-up, and their median.
 *
 * ```sh
 * deno task bench:consumer-cpu                      # 200,000 records, 5 rounds
 * deno task bench:consumer-cpu --records 500000 --rounds 3
 * deno task bench:consumer-cpu --profile            # with a V8 CPU profile: run it under deno run --cpu-prof
 * ```
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import { Buffer } from "node:buffer";
import process from "node:process";
import { parseArgs } from "node:util";
import { CompressionTypes } from "kafkajs";
import "../lib/kafka/zstd.ts"; // the zstd codec, as the programs register it
import { Simulator } from "../lib/simulator/simulator.ts";
import { createValidator } from "../lib/domain/reading.ts";
import { EpisodeTracker } from "../lib/domain/episodes.ts";
import { toSourceRecord } from "../lib/kafka/batch_handler.ts";
import { Sink } from "../lib/sink/sink.ts";
import { deadLetterColumns, readingColumns } from "../lib/storage/_columns.ts";
import type { DeadLetter, StoredReading, WriteResult } from "../lib/storage/mod.ts";
import { createLogger } from "../lib/ops/log.ts";
import { Batch, Decoder, decodeRecordBatch, Record, RecordBatch } from "../tests/support/kafkajs_protocol.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    records: { type: "string", default: "200000" },
    rounds: { type: "string", default: "5" },
    "batch-records": { type: "string", default: "830" },
    help: { type: "boolean", default: false },
  },
});
if (v.help) {
  console.log(`usage: deno task bench:consumer-cpu [--records N] [--rounds N] [--batch-records N]

The consumer's CPU-seconds per 100,000 records on its steady-state path, without I/O
(kafkajs decode, validation, episodes, sink, parameter encoding). See bench/consumer_cpu.ts.`);
  Deno.exit(0);
}
const count = Number(v.records), rounds = Number(v.rounds), perBatch = Number(v["batch-records"]);
for (const [name, n] of [["--records", count], ["--rounds", rounds], ["--batch-records", perBatch]] as const) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`Cannot use ${name}: expected a whole number of at least 1: current value is ${n}`);
    Deno.exit(2);
  }
}

const PARTITIONS = 6;
const TOPIC = "heartbeat.readings";
const START = Date.UTC(2026, 0, 1);

/** The workload as zstd record batches per partition, in fetch order. */
async function encodeWorkload(): Promise<{ partition: number; firstOffset: number; bytes: Buffer }[]> {
  const sim = new Simulator({
    ...{ seed: 1, customers: 1000, rate: 100_000, startMs: START, anomalyRate: 0.002, invalidRate: 0.01 },
  });
  const byPartition: { key: Buffer; value: Buffer }[][] = Array.from({ length: PARTITIONS }, () => []);
  const keys = new Map<string, number>();
  const utf8 = new TextEncoder();
  for (let i = 0; i < count; i++) {
    const m = sim.next();
    let p = keys.get(m.key);
    if (p === undefined) keys.set(m.key, p = keys.size % PARTITIONS);
    const value = typeof m.value === "string" ? utf8.encode(m.value) : m.value;
    byPartition[p]!.push({ key: Buffer.from(m.key), value: Buffer.from(value) });
  }
  const batches: { partition: number; firstOffset: number; bytes: Buffer }[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const messages = byPartition[p]!;
    for (let first = 0; first < messages.length; first += perBatch) {
      const slice = messages.slice(first, first + perBatch);
      const records = slice.map((m, i) => Record({ offsetDelta: i, timestampDelta: i, key: m.key, value: m.value }));
      const batch = await RecordBatch({
        compression: CompressionTypes.ZSTD, // the producer's default
        firstOffset: BigInt(first),
        firstTimestamp: START,
        maxTimestamp: START + slice.length,
        lastOffsetDelta: slice.length - 1,
        records,
      });
      batches.push({ partition: p, firstOffset: first, bytes: Buffer.from(batch.buffer) });
    }
  }
  // interleave the partitions as fetches do
  return batches.sort((a, b) => a.firstOffset - b.firstOffset || a.partition - b.partition);
}

/** Readings and dead letters the stand-in was given, over all rounds (a check that every record went through). */
const written = { readings: 0, deadLetters: 0 };

/** A database stand-in: encodes each batch's parameters as the repository does, stores nothing. */
const store = {
  writeBatch(readings: StoredReading[], deadLetters: DeadLetter[]): Promise<WriteResult> {
    written.readings += readings.length;
    written.deadLetters += deadLetters.length;
    if (readings.length > 0) readingColumns(readings);
    if (deadLetters.length > 0) deadLetterColumns(deadLetters);
    return Promise.resolve({
      inserted: readings.length,
      duplicates: 0,
      rejected: deadLetters.length,
      rejectedDuplicates: 0,
    });
  },
  loadHistory: () => Promise.resolve(new Map()),
};

async function round(batches: { partition: number; firstOffset: number; bytes: Buffer }[]): Promise<number> {
  const log = createLogger({ level: "error" });
  const sink = new Sink({
    store,
    validate: createValidator({}, () => START + 86_400_000),
    batchSize: 5_000,
    batchWaitMs: 5,
    writers: 2,
    log,
    episodes: new EpisodeTracker(store),
  });
  const before = process.cpuUsage();
  const pending: Promise<void>[] = [];
  for (const b of batches) {
    const decoded = await decodeRecordBatch(new Decoder(b.bytes));
    const batch = new Batch(TOPIC, String(b.firstOffset), {
      partition: b.partition,
      highWatermark: String(count),
      messages: decoded.records,
    });
    const records = batch.messages.map((m) => toSourceRecord(TOPIC, b.partition, m));
    pending.push(sink.submit(sink.prepare(records)));
    if (pending.length >= 12) await pending.shift();
  }
  await Promise.all(pending);
  await sink.close();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

const batches = await encodeWorkload();
await round(batches); // warm-up: JIT, the episode tracker's first readings
const figures: number[] = [];
for (let r = 0; r < rounds; r++) {
  written.readings = written.deadLetters = 0;
  const cpuS = await round(batches);
  if (written.readings + written.deadLetters !== count) {
    throw new Error(`round ${r + 1} wrote ${written.readings} + ${written.deadLetters} records of ${count}`);
  }
  figures.push(cpuS / (count / 100_000));
  console.log(
    `round ${r + 1}: ${(cpuS / (count / 100_000)).toFixed(3)} CPU-s per 100k records ` +
      `(${written.readings} readings, ${written.deadLetters} dead letters)`,
  );
}
const sorted = [...figures].sort((a, b) => a - b);
console.log(
  `median ${
    sorted[Math.floor(sorted.length / 2)]!.toFixed(3)
  } CPU-s per 100k records (${count} records, ${rounds} rounds)`,
);
