/**
 * Kafka side of the benchmark: topics it creates and deletes, whether a consumer group has
 * committed everything, whether it is stable, and Apache Kafka's own producer perf tool.
 *
 * Requires `--allow-net=127.0.0.1:9092`, `--ignore-env` (kafkajs probes `KAFKAJS_*`), and
 * `--allow-run=java` for {@link javaProducerPerf}.
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import "../lib/kafka/negative_timeout_warning.ts"; // kafkajs' harmless timer warning, dropped
import { type Admin, Kafka, logLevel } from "kafkajs";
import { runCommand } from "./proc.ts";

/** A connected admin client; disconnects on dispose. */
export interface BenchAdmin extends AsyncDisposable {
  /** The kafkajs admin. */
  admin: Admin;
  /** Creates a topic (fails if it exists). */
  createTopic(topic: string, partitions: number): Promise<void>;
  /** Deletes topics that exist, ignoring the rest. */
  deleteTopics(topics: string[]): Promise<void>;
  /** High watermark minus low watermark of every partition, summed. */
  messages(topic: string): Promise<number>;
  /** Whether `group` has committed, on every non-empty partition, the topic's high watermark. */
  caughtUp(topic: string, group: string): Promise<boolean>;
  /** Whether `group` is stable with `members` members. */
  stable(group: string, members: number): Promise<boolean>;
}

/** Connects an admin client to `broker`. */
export async function connectAdmin(broker: string): Promise<BenchAdmin> {
  const kafka = new Kafka({ clientId: "heartbeat-bench", brokers: [broker], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, { partition: number; high: string; low: string }[]>();
  const endsOf = async (topic: string) => {
    let e = ends.get(topic);
    if (e === undefined) {
      e = await admin.fetchTopicOffsets(topic);
      ends.set(topic, e);
    }
    return e;
  };
  return {
    admin,
    async createTopic(topic, partitions) {
      await admin.createTopics({
        topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }],
        waitForLeaders: true,
      });
    },
    async deleteTopics(topics) {
      const existing = new Set(await admin.listTopics());
      const doomed = topics.filter((t) => existing.has(t));
      if (doomed.length > 0) await admin.deleteTopics({ topics: doomed });
    },
    async messages(topic) {
      ends.delete(topic);
      const e = await endsOf(topic);
      return e.reduce((sum, p) => sum + Number(BigInt(p.high) - BigInt(p.low)), 0);
    },
    async caughtUp(topic, group) {
      const e = await endsOf(topic); // the topic is filled before consumers start: its end is fixed
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return e.every((end) => {
        if (BigInt(end.high) <= BigInt(end.low)) return true;
        const c = committed?.partitions.find((p) => p.partition === end.partition);
        return c !== undefined && c.offset !== "-1" && BigInt(c.offset) >= BigInt(end.high);
      });
    },
    async stable(group, members) {
      const { groups } = await admin.describeGroups([group]);
      const g = groups[0];
      return g !== undefined && g.state === "Stable" && g.members.length === members;
    },
    async [Symbol.asyncDispose]() {
      await admin.disconnect();
    },
  };
}

/** What `org.apache.kafka.tools.ProducerPerformance` printed last. */
export interface JavaPerfResult {
  /** Records sent. */
  records: number;
  /** Records per second. */
  perSecond: number;
  /** MB per second. */
  mbPerSecond: number;
  /** Mean send latency, ms. */
  avgLatencyMs: number;
  /** Largest send latency, ms. */
  maxLatencyMs: number;
  /** Wall time of the whole command (JVM start included), ms. */
  wallMs: number;
  /** Peak RSS of the JVM, MiB (sampled). */
  peakMiB: number;
  /** The command that ran. */
  command: string;
  /** `compression.type` it ran with (results before 2026-12-06 lack it: gzip). */
  compression?: string;
}

/**
 * Runs Kafka's producer perf tool (`kafka-producer-perf-test`) against `broker` with the same
 * producer guarantees as ours: acks=all, idempotence, gzip.
 *
 * @param libs the Kafka jars folder (classpath `libs/*`)
 * @param sizing `--record-size N` or `--payload-file path` arguments
 */
export async function javaProducerPerf(
  libs: string,
  broker: string,
  topic: string,
  records: number,
  sizing: string[],
  compression: string,
): Promise<JavaPerfResult> {
  const args = [
    "-cp",
    `${libs}/*`,
    "org.apache.kafka.tools.ProducerPerformance",
    "--topic",
    topic,
    "--num-records",
    String(records),
    ...sizing,
    "--throughput",
    "-1",
    "--producer-props",
    `bootstrap.servers=${broker}`,
    "acks=all",
    "enable.idempotence=true",
    `compression.type=${compression}`,
  ];
  const out = await runCommand("java", args);
  const command = `java ${args.map((a) => a.includes("*") ? `"${a}"` : a).join(" ")}`;
  const last = out.stdout.trim().split("\n").findLast((l) => / records sent, /.test(l)) ?? "";
  const m = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max/
    .exec(last);
  if (out.code !== 0 || m === null) {
    throw new Error(
      `Cannot measure the Java producer: it exited with ${out.code}: ${(out.stderr || out.stdout).slice(-800)}`,
    );
  }
  return {
    records: Number(m[1]),
    perSecond: Number(m[2]),
    mbPerSecond: Number(m[3]),
    avgLatencyMs: Number(m[4]),
    maxLatencyMs: Number(m[5]),
    wallMs: out.ms,
    peakMiB: out.peakMiB,
    command,
    compression,
  };
}
