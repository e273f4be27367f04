#!/usr/bin/env -S deno run --allow-net=127.0.0.1:9092 --ignore-env
/**
 * What kafkajs itself can send from one Deno process, without the simulator: the same messages the
 * producer script sends (pre-generated, not timed), sent with the publisher's settings (idempotent,
 * acks=all, one request in flight) in requests of `--batch-sizes` messages, with gzip or without
 * compression, keys and values as strings or (`--buffers`) as Buffers, with kafkajs' own encoder or
 * (`--fast-encoder`) lib/kafkajs_encoder.ts. Splits the producer's cost between generating messages
 * and kafkajs' encoding, and gives the evidence behind the producer section of docs/performance.md.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:9092 --ignore-env bench/producer_variants.ts \
 *   --messages 300000 --batch-sizes 2000,10000 --compression gzip,none --buffers --fast-encoder
 * ```
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import process from "node:process";
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { CompressionTypes, Kafka, logLevel, type Message, Partitioners } from "kafkajs";
import { Simulator } from "../lib/simulator/simulator.ts";
import { table } from "./report.ts";
import { originals } from "../lib/kafka/patches/mod.ts";

const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  if (String(warning).includes("is a negative number")) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    messages: { type: "string", default: "300000" },
    "batch-sizes": { type: "string", default: "2000,10000" },
    compression: { type: "string", default: "gzip,none" },
    customers: { type: "string", default: "1000" },
    "buffers": { type: "boolean", default: false },
    "fast-encoder": { type: "boolean", default: false },
  },
});
const count = Number(v.messages);
// the preload installed the fast encoder: a variant without it puts kafkajs' own methods back
const encoderPatch = originals().encoder;
if (encoderPatch === undefined) throw new Error("kafkajs' Encoder could not be loaded");
if (!v["fast-encoder"]) encoderPatch.restore();
else if (!encoderPatch.install()) throw new Error("the fast encoder does not fit this kafkajs");
const sim = new Simulator({
  seed: 1,
  customers: Number(v.customers),
  rate: 100_000,
  startMs: Date.now() - 3_600_000,
  anomalyRate: 0.002,
  invalidRate: 0.01,
});
const genStart = performance.now();
const messages: Message[] = [];
for (let i = 0; i < count; i++) {
  const m = sim.next();
  messages.push({
    key: v.buffers ? Buffer.from(m.key) : m.key,
    value: typeof m.value === "string" && !v.buffers ? m.value : Buffer.from(m.value),
  });
}
const genMs = performance.now() - genStart;
console.error(`generated ${count} messages in ${(genMs / 1000).toFixed(1)} s (${Math.round(count / genMs * 1000)}/s)`);

const kafka = new Kafka({
  clientId: "heartbeat-bench-producer",
  brokers: ["127.0.0.1:9092"],
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
await admin.connect();
const out: string[][] = [];
const topics: string[] = [];
try {
  for (const compression of v.compression.split(",")) {
    for (const size of v["batch-sizes"].split(",").map(Number)) {
      const topic = `bench-producer-variant-${compression}-${size}-${Date.now().toString(36)}`;
      topics.push(topic);
      await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: -1 }], waitForLeaders: true });
      const producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      const began = performance.now();
      for (let i = 0; i < messages.length; i += size) {
        await producer.send({
          topic,
          acks: -1,
          compression: compression === "gzip" ? CompressionTypes.GZIP : CompressionTypes.None,
          messages: messages.slice(i, i + size),
        });
      }
      const ms = performance.now() - began;
      await producer.disconnect();
      out.push([compression, size.toLocaleString("en-US"), Math.round(count / ms * 1000).toLocaleString("en-US")]);
      console.error(`${compression} ${size}: ${Math.round(count / ms * 1000)}/s`);
    }
  }
} finally {
  await admin.deleteTopics({ topics }).catch(() => {});
  await admin.disconnect();
}
console.log(
  `\nkafkajs, ${count.toLocaleString("en-US")} pre-generated messages (${
    v.buffers ? "Buffers" : "strings"
  }), idempotent, acks=all, one request in flight:\n`,
);
console.log(table(["compression", "messages a request", "messages/s"], out));
console.log(`\nsimulator alone: ${Math.round(count / genMs * 1000).toLocaleString("en-US")} messages/s`);
