/**
 * The bench's peer phase: the same valid readings stored by an off-the-shelf pipeline, Kafka Connect
 * standalone (the broker's Kafka version) with the Debezium JDBC sink, upserting on the same primary
 * key as ours, so that the sink's figures stand beside a known alternative and not only beside
 * `COPY`.
 *
 * The connector needs records with a schema: the bench writes the readings to a topic of the peer's
 * in Kafka Connect's JSON envelope (`{"schema": …, "payload": …}`, JsonConverter with
 * `schemas.enable=true`), keyed and partitioned as ours. The peer's table holds what the envelope
 * carries: customer_id, recorded_at, heart_rate, is_anomaly, primary key (customer_id, recorded_at),
 * no partitions, no further index, no rollup. Its COPY ceiling is measured beside ours, so that what
 * our richer schema costs shows apart from the two sinks' ratio.
 *
 * Requires `--allow-run=java,bash` (the worker; `scripts/kafka-connect.sh` fetches its jars with
 * Maven), `--allow-net` to the broker, PostgreSQL and the worker's REST port {@link PEER_REST_PORT},
 * `--allow-write` of `bench/results` (the worker's configuration and offsets) and `--allow-read=.`.
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import "../lib/kafka/negative_timeout_warning.ts"; // kafkajs' harmless timer warning, dropped
import { Buffer } from "node:buffer";
import { CompressionTypes, Kafka, logLevel, Partitioners } from "kafkajs";
import { connect, copyTable } from "./db.ts";
import type { BenchAdmin } from "./kafka.ts";
import { CpuTracker, type CpuUsage, MemorySampler, spawnedPids } from "./proc.ts";
import { num, ratio } from "./report.ts";
import { ensureDatabase } from "../lib/storage/mod.ts";
import { dropDatabase } from "../tests/support/database.ts";
import { terminate } from "../tests/support/process.ts";

/** The worker's REST port (loopback): its connectors' status is read there. */
export const PEER_REST_PORT = 18083;

/** The peer's table. */
export const PEER_TABLE = "peer_readings";

/** Its columns, in COPY order: what the envelope carries. */
export const PEER_COLUMNS = ["customer_id", "recorded_at", "heart_rate", "is_anomaly"] as const;

/** The peer's table: the envelope's columns and the same primary key as ours; nothing else. */
export const PEER_TABLE_SQL = `CREATE TABLE ${PEER_TABLE} (
  customer_id text             NOT NULL,
  recorded_at timestamptz      NOT NULL,
  heart_rate  double precision NOT NULL,
  is_anomaly  boolean          NOT NULL,
  PRIMARY KEY (customer_id, recorded_at)
)`;

/** A valid reading as the peer gets it. */
export interface PeerReading {
  /** `CUST-001`. */
  customerId: string;
  /** UTC ISO 8601 with microseconds, as our validator normalises it. */
  recordedAt: string;
  /** Beats per minute. */
  heartRate: number;
  /** Computed by the bench with our validator: the peer is given it, it does not compute it. */
  isAnomaly: boolean;
}

/**
 * The Connect schema of a reading. `recorded_at` is Debezium's `ZonedTimestamp` (an ISO 8601 string
 * the JDBC sink binds as `timestamptz`): Connect's own `Timestamp` has milliseconds only, where our
 * readings have microseconds.
 */
export const READING_SCHEMA = {
  type: "struct",
  name: "heartbeat.reading",
  optional: false,
  fields: [
    { field: "customer_id", type: "string", optional: false },
    { field: "recorded_at", type: "string", name: "io.debezium.time.ZonedTimestamp", optional: false },
    { field: "heart_rate", type: "double", optional: false },
    { field: "is_anomaly", type: "boolean", optional: false },
  ],
} as const;

const SCHEMA_JSON = JSON.stringify(READING_SCHEMA);

/**
 * One reading in Kafka Connect's JSON envelope (JsonConverter, `schemas.enable=true`).
 *
 * @example
 * ```ts
 * import { envelope } from "./peer.ts";
 * const text = envelope({ customerId: "CUST-001", recordedAt: "2026-01-01T00:00:00.000000Z", heartRate: 72, isAnomaly: false });
 * JSON.parse(text).payload.heart_rate; // 72
 * ```
 */
export function envelope(r: PeerReading): string {
  return `{"schema":${SCHEMA_JSON},"payload":${
    JSON.stringify({
      customer_id: r.customerId,
      recorded_at: r.recordedAt,
      heart_rate: r.heartRate,
      is_anomaly: r.isAnomaly,
    })
  }}`;
}

/** The row of the peer's table as one COPY text line (customer ids and timestamps need no escaping). */
export function peerCopyLine(r: PeerReading): string {
  if (/[\\\t\n\r]/.test(r.customerId)) {
    throw new RangeError(`Cannot encode the customer id for COPY: current value is ${JSON.stringify(r.customerId)}`);
  }
  return `${r.customerId}\t${r.recordedAt}\t${r.heartRate}\t${r.isAnomaly ? "t" : "f"}\n`;
}

/** One configuration of the connector. */
export interface PeerConfig {
  /** `batch.size` (and the consumer's `max.poll.records`, which caps a batch). */
  batchSize: number;
  /** `dialect.postgres.unnest.insert.enabled`: one multi-row statement of arrays per batch. */
  unnest: boolean;
  /** `reWriteBatchedInserts=true` on the JDBC URL: the driver folds a batch into multi-row INSERTs. */
  rewrite: boolean;
  /** `tasks.max`: our consumer count it is compared with. */
  tasks: number;
}

/** `batch 2,000 + unnest, 1 task`. */
export function configLabel(c: PeerConfig): string {
  const flags = [c.unnest ? " + unnest" : "", c.rewrite ? " + reWriteBatchedInserts" : ""].join("");
  return `batch ${c.batchSize.toLocaleString("en-US")}${flags}, ${c.tasks} task${c.tasks === 1 ? "" : "s"}`;
}

/**
 * Parses `--peer-configs`: comma-separated batch sizes, each with optional `:unnest` and `:rewrite`
 * (e.g. `500,5000:unnest,2000:unnest:rewrite`); `tasks` is set by the caller.
 *
 * @throws {RangeError} on a batch size that is not a whole number above 0, or an unknown flag
 */
export function parsePeerConfigs(text: string, tasks: number): PeerConfig[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "").map((item) => {
    const [size, ...flags] = item.split(":");
    const batchSize = Number(size);
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new RangeError(
        `Cannot use --peer-configs: expected a whole batch size above 0: current value is ${item}`,
      );
    }
    for (const f of flags) {
      if (f !== "unnest" && f !== "rewrite") {
        throw new RangeError(
          `Cannot use --peer-configs: expected the flags unnest or rewrite after the batch size: current value is ${item}`,
        );
      }
    }
    return { batchSize, unnest: flags.includes("unnest"), rewrite: flags.includes("rewrite"), tasks };
  });
}

/** Renders properties as a Java properties file (values are ours: no escaping is needed beyond `\`). */
export function propertiesText(p: Record<string, string | number | boolean>): string {
  return Object.entries(p).map(([k, v]) => `${k}=${String(v).replaceAll("\\", "\\\\")}`).join("\n") + "\n";
}

/** The standalone worker's settings. */
export function workerProperties(o: { broker: string; pluginPath: string; offsetsFile: string }) {
  return {
    "bootstrap.servers": o.broker,
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": true,
    "offset.storage.file.filename": o.offsetsFile,
    "listeners": `http://127.0.0.1:${PEER_REST_PORT}`,
    "plugin.path": o.pluginPath,
    // the worker says itself that every plugin has manifests: scanning the jars as well costs seconds of start
    "plugin.discovery": "service_load",
    // lets the connector raise its consumer's max.poll.records, which caps a batch at 500
    "connector.client.config.override.policy": "All",
  };
}

/**
 * The JDBC sink's settings: upsert on (customer_id, recorded_at), the same guarantee as ours (a
 * redelivered reading is stored once), into a table that exists (no schema evolution).
 */
export function connectorProperties(
  c: PeerConfig,
  o: { name: string; topic: string; host: string; port: number; database: string; user: string },
) {
  return {
    "name": o.name,
    "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
    "tasks.max": c.tasks,
    "topics": o.topic,
    "connection.url": `jdbc:postgresql://${o.host}:${o.port}/${o.database}${
      c.rewrite ? "?reWriteBatchedInserts=true" : ""
    }`,
    "connection.username": o.user,
    "connection.password": "",
    "insert.mode": "upsert",
    "primary.key.mode": "record_value",
    "primary.key.fields": "customer_id,recorded_at",
    "schema.evolution": "none",
    "collection.name.format": PEER_TABLE,
    "batch.size": c.batchSize,
    "dialect.postgres.unnest.insert.enabled": c.unnest,
    "consumer.override.max.poll.records": Math.max(500, c.batchSize),
    "consumer.override.auto.offset.reset": "earliest",
  };
}

/** `[ms since the worker started, rows counted]`, in time order. */
export type CountSample = readonly [number, number];

/**
 * Rows per second between the moments `from` and `to` (fractions of `total`) were reached, each
 * moment interpolated between the two count samples around it; NaN when the samples do not reach
 * `to` or cannot place `from`.
 *
 * @example
 * ```ts
 * import { steadyRate } from "./peer.ts";
 * steadyRate([[0, 0], [1000, 50], [2000, 100]], 100); // 50 (rows 10 to 90 took 1.6 s)
 * ```
 */
export function steadyRate(samples: readonly CountSample[], total: number, from = 0.1, to = 0.9): number {
  const at = (fraction: number): number => {
    const target = fraction * total;
    for (let i = 0; i < samples.length; i++) {
      const [t, n] = samples[i]!;
      if (n < target) continue;
      if (i === 0) return n === target ? t : NaN; // reached before the first sample: not placed
      const [t0, n0] = samples[i - 1]!;
      return t0 + (t - t0) * (target - n0) / (n - n0);
    }
    return NaN;
  };
  const a = at(from), b = at(to);
  return b > a ? (to - from) * total / ((b - a) / 1000) : NaN;
}

/**
 * What the count samples say of a run: when rows first showed, when the last one did, and the rate
 * between those two samples (rows seen after the first sample over the time after it: startup
 * left out, as our sink's steady figure leaves it out).
 */
export function countSpan(
  samples: readonly CountSample[],
  total: number,
): { firstRowMs: number; lastRowMs: number; spanRate: number } {
  const first = samples.find(([, n]) => n > 0);
  const last = samples.find(([, n]) => n >= total);
  if (first === undefined || last === undefined || last[0] <= first[0]) {
    return { firstRowMs: first?.[0] ?? NaN, lastRowMs: last?.[0] ?? NaN, spanRate: NaN };
  }
  return { firstRowMs: first[0], lastRowMs: last[0], spanRate: (total - first[1]) / ((last[0] - first[0]) / 1000) };
}

/** The peer's rows, kept while the bench builds its data set. */
export class PeerRows {
  /** The readings, in the order sent. */
  readonly readings: PeerReading[] = [];
  /** Readings flagged anomalous (to check what was stored). */
  anomalies = 0;

  /** Keeps one reading. */
  add(r: PeerReading): void {
    this.readings.push({
      customerId: r.customerId,
      recordedAt: r.recordedAt,
      heartRate: r.heartRate,
      isAnomaly: r.isAnomaly,
    });
    if (r.isAnomaly) this.anomalies++;
  }

  /** COPY text chunks of `chunkRows` rows (encoded before any clock starts). */
  copyChunks(chunkRows: number): Buffer[] {
    const chunks: Buffer[] = [];
    for (let i = 0; i < this.readings.length; i += chunkRows) {
      chunks.push(Buffer.from(this.readings.slice(i, i + chunkRows).map(peerCopyLine).join("")));
    }
    return chunks;
  }
}

/** One run of the worker. */
export interface PeerRun {
  label: string;
  config: PeerConfig;
  rows: number;
  /** Worker process start to the count first seeing every row, seconds. */
  wallS: number;
  /** rows / wallS. */
  perSecond: number;
  /** Between 10 % and 90 % of the rows (interpolated count samples). */
  steady10to90PerSecond: number;
  /** From the first count sample with rows to the last row (our steady figure's definition). */
  steadyPerSecond: number;
  /** Worker start to the first rows seen, seconds. */
  firstRowAfterS: number;
  /** The worker's CPU from its start to the last row, seconds, and as % of one core. */
  workerCpuS: number;
  workerPctOfCore: number;
  /** Peak RSS of the worker (VmHWM), MiB. */
  peakMiB: number;
  verified: boolean;
  cpu?: CpuUsage;
}

/** The peer phase's results. */
export interface PeerResults {
  /** What the peer is, for the report and the JSON. */
  peer: string;
  /** The envelope and the topic. */
  topic: { name: string; messages: number; meanEnvelopeBytes: number; compression: string };
  /** `COPY` of the same readings into the peer's table, before and after the runs, and their mean. */
  ceiling: { before: number; after: number; perSecond: number; rows: number };
  runs: PeerRun[];
  /** The label of the best run with the first task count (highest rate from worker start). */
  best?: string;
}

/** Where the worker's jars are, or why the phase cannot run (one line). */
export async function peerSetup(root: URL): Promise<{ home: string } | { missing: string }> {
  try {
    const v = await new Deno.Command("java", { args: ["-version"], stdout: "null", stderr: "piped" }).output();
    if (!v.success) return { missing: "java -version failed: the peer (Kafka Connect) needs Java 17" };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { missing: "Java (java) is not installed: the peer (Kafka Connect) needs Java 17" };
    }
    throw error;
  }
  const script = new URL("scripts/kafka-connect.sh", root).pathname;
  // fetches once (Maven's progress goes to our stderr), then a no-op
  const fetch = await new Deno.Command("bash", { args: [script, "fetch"], stdout: "inherit", stderr: "inherit" })
    .output();
  if (fetch.code === 3) {
    return { missing: "Maven (mvn) is not installed: it fetches Kafka Connect and the Debezium JDBC sink once" };
  }
  if (!fetch.success) return { missing: `scripts/kafka-connect.sh fetch failed (exit ${fetch.code}; see above)` };
  const home = await new Deno.Command("bash", { args: [script, "home"], stdout: "piped", stderr: "inherit" }).output();
  return { home: new TextDecoder().decode(home.stdout).trim() };
}

/** Settings of {@link measurePeer}. */
export interface PeerOptions {
  broker: string;
  /** `postgres://postgres@host:port` (trust auth: the JDBC URL carries no password). */
  server: string;
  /** The cache of scripts/kafka-connect.sh. */
  home: string;
  /** A folder for the worker's files (removed afterwards). */
  dir: URL;
  /** Every database and topic of the run has it in its name. */
  id: string;
  partitions: number;
  copyRows: number;
  /** The grid, at the first task count. */
  configs: PeerConfig[];
  /** Further task counts: the best configuration again with each. */
  moreTasks: number[];
  /** CPU groups of the bench (its children, the run's databases, ...). */
  groups(): Promise<Record<string, number[]>>;
  /** Called with every consumer group and topic made, to delete at the end. */
  cleanup(kind: "group" | "topic", name: string): void;
  say(message: string): void;
}

/**
 * Fills the peer's topic, measures the COPY ceiling of the peer's table, runs the worker once per
 * configuration (each into a fresh database with a new consumer group), the best one again with
 * each further task count, then the ceiling again.
 */
export async function measurePeer(admin: BenchAdmin, rows: PeerRows, o: PeerOptions): Promise<PeerResults> {
  const topic = `bench-peer-${o.id}`;
  o.cleanup("topic", topic);
  await admin.deleteTopics([topic]);
  await admin.createTopic(topic, o.partitions);
  const meanEnvelopeBytes = await fill(o.broker, topic, rows.readings);
  const inTopic = await admin.messages(topic);
  if (inTopic !== rows.readings.length) {
    throw new Error(`the peer's topic holds ${inTopic} messages, expected ${rows.readings.length}`);
  }
  o.say(
    `  peer topic ${topic}: ${rows.readings.length} readings in the JSON schema envelope, mean ${
      Math.round(meanEnvelopeBytes)
    } bytes, gzip`,
  );
  const chunks = rows.copyChunks(o.copyRows);
  const before = await peerCeiling(o, chunks, rows.readings.length, "ceiling_before");
  o.say(`  peer table COPY ceiling: ${Math.round(before)} rows/s`);
  const runs: PeerRun[] = [];
  let n = 0;
  const runOne = async (c: PeerConfig) => {
    const r = await runWorker(rows, c, topic, `${++n}`, o);
    runs.push(r);
    o.say(
      `  peer ${r.label}: ${Math.round(r.perSecond)} rows/s from worker start (${
        r.wallS.toFixed(1)
      } s; first rows after ${r.firstRowAfterS.toFixed(1)} s; steady ${
        Math.round(r.steadyPerSecond)
      }/s); worker ${r.workerPctOfCore}% of a core, ${Math.round(r.peakMiB)} MiB${
        r.verified ? "" : "; ROW COUNTS WRONG"
      }`,
    );
  };
  for (const c of o.configs) await runOne(c);
  const best = bestRun(runs);
  if (best !== undefined) { for (const tasks of o.moreTasks) await runOne({ ...best.config, tasks }); }
  const after = await peerCeiling(o, chunks, rows.readings.length, "ceiling_after");
  return {
    peer: "Kafka Connect standalone + Debezium JDBC sink (upsert on the primary key)",
    topic: { name: topic, messages: inTopic, meanEnvelopeBytes, compression: "gzip" },
    ceiling: { before, after, perSecond: (before + after) / 2, rows: rows.readings.length },
    runs,
    ...(best === undefined ? {} : { best: best.label }),
  };
}

/** The verified run with the highest rate from worker start, among those with the first task count. */
export function bestRun<T extends { perSecond: number; verified: boolean; config: { tasks: number } }>(
  runs: readonly T[],
): T | undefined {
  const tasks = runs[0]?.config.tasks;
  return runs.filter((r) => r.verified && r.config.tasks === tasks && Number.isFinite(r.perSecond))
    .reduce<T | undefined>((a, b) => a === undefined || b.perSecond > a.perSecond ? b : a, undefined);
}

async function peerDatabase(server: string, name: string): Promise<{ url: string; name: string } & AsyncDisposable> {
  const url = `${server}/${name.slice(0, 63)}`;
  await dropDatabase(url);
  await ensureDatabase(url);
  const client = await connect(url);
  try {
    await client.query(PEER_TABLE_SQL);
    await client.query("CHECKPOINT");
  } finally {
    await client.end();
  }
  return { url, name: name.slice(0, 63), [Symbol.asyncDispose]: () => dropDatabase(url) };
}

async function peerCeiling(o: PeerOptions, chunks: Buffer[], rows: number, slug: string): Promise<number> {
  await using db = await peerDatabase(o.server, `bench_${o.id}_peer_${slug}`);
  const ms = await copyTable(db.url, PEER_TABLE, [...PEER_COLUMNS], chunks);
  const client = await connect(db.url);
  try {
    const { rows: r } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${PEER_TABLE}`);
    if (Number(r[0]?.n) !== rows) throw new Error(`COPY stored ${r[0]?.n} peer rows, expected ${rows}`);
  } finally {
    await client.end();
  }
  return rows / (ms / 1000);
}

/** Writes the readings to `topic` in the envelope, keyed by customer (partitioned as ours); not timed. */
async function fill(broker: string, topic: string, readings: readonly PeerReading[]): Promise<number> {
  const kafka = new Kafka({ clientId: "heartbeat-bench-peer", brokers: [broker], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  let bytes = 0;
  try {
    for (let i = 0; i < readings.length; i += 2000) {
      const messages = readings.slice(i, i + 2000).map((r) => {
        const value = envelope(r);
        bytes += value.length;
        return { key: r.customerId, value };
      });
      await producer.send({ topic, messages, acks: -1, compression: CompressionTypes.GZIP });
    }
  } finally {
    await producer.disconnect();
  }
  return readings.length === 0 ? 0 : bytes / readings.length;
}

/** Starts the worker with the connector, and measures from its start to every row counted. */
async function runWorker(
  rows: PeerRows,
  c: PeerConfig,
  topic: string,
  n: string,
  o: PeerOptions,
): Promise<PeerRun> {
  const total = rows.readings.length;
  const label = configLabel(c);
  await using db = await peerDatabase(o.server, `bench_${o.id}_peer_${n}`);
  const dir = new URL(`run-${n}/`, o.dir);
  await Deno.mkdir(dir, { recursive: true });
  const name = `bench-peer-${o.id}-${n}`;
  o.cleanup("group", `connect-${name}`);
  const server = new URL(o.server);
  const files = {
    worker: new URL("worker.properties", dir).pathname,
    connector: new URL("connector.properties", dir).pathname,
    log4j: new URL("log4j2.properties", dir).pathname,
  };
  await Deno.writeTextFile(
    files.worker,
    propertiesText(workerProperties({
      broker: o.broker,
      pluginPath: `${o.home}/plugins`,
      offsetsFile: new URL("offsets", dir).pathname,
    })),
  );
  await Deno.writeTextFile(
    files.connector,
    propertiesText(connectorProperties(c, {
      name,
      topic,
      host: server.hostname,
      port: Number(server.port || 5432),
      database: db.name,
      user: decodeURIComponent(server.username),
    })),
  );
  await Deno.writeTextFile(
    files.log4j,
    "rootLogger.level=WARN\nrootLogger.appenderRef.out.ref=out\nappender.out.type=Console\nappender.out.name=out\n" +
      "appender.out.layout.type=PatternLayout\nappender.out.layout.pattern=[%d] %p %m (%c)%n\n",
  );

  const counter = await connect(db.url, "heartbeat-bench-peer-count");
  const tracker = await new CpuTracker().start();
  const began = performance.now();
  const child = new Deno.Command("java", {
    args: [
      // the broker's heap (scripts/kafka.sh)
      "-Xms256m",
      "-Xmx768m",
      "-XX:+UseG1GC",
      "-Djava.awt.headless=true",
      `-Dlog4j2.configurationFile=${files.log4j}`,
      "-cp",
      `${o.home}/libs/*`,
      "org.apache.kafka.connect.cli.ConnectStandalone",
      files.worker,
      files.connector,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  spawnedPids.add(child.pid);
  const sampler = new MemorySampler(child.pid, 500);
  const log: string[] = [];
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
      log.push(...chunk.split("\n").filter((l) => l !== ""));
      if (log.length > 400) log.splice(0, log.length - 200);
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const tail = () => log.slice(-15).join("\n");
  try {
    const samples: CountSample[] = [];
    const deadline = began + Math.max(180_000, total / 1000 * 1000);
    let lastStatus = 0;
    for (;;) {
      if (exited) throw new Error(`the Kafka Connect worker exited early; last lines:\n${tail()}`);
      if (performance.now() > deadline) {
        throw new Error(`timed out waiting for ${total} peer rows (${samples.at(-1)?.[1] ?? 0} stored)`);
      }
      const t = performance.now() - began;
      const { rows: r } = await counter.query<{ n: string }>(`SELECT count(*) AS n FROM ${PEER_TABLE}`);
      const count = Number(r[0]?.n ?? 0);
      samples.push([t, count]);
      if (count >= total) break;
      // a failed task leaves the worker running: its REST status says so
      if (performance.now() - lastStatus > 1000) {
        lastStatus = performance.now();
        const failed = await failedTask(name);
        if (failed !== undefined) throw new Error(`the peer's task failed: ${failed}`);
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    const wallS = samples.at(-1)![0] / 1000;
    const cpu = await tracker.stop({ ...await o.groups(), "peer worker": [child.pid] });
    const peakMiB = await sampler.stop();
    const { rows: check } = await counter.query<{ n: string; a: string }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE is_anomaly) AS a FROM ${PEER_TABLE}`,
    );
    const verified = Number(check[0]?.n) === total && Number(check[0]?.a) === rows.anomalies;
    const span = countSpan(samples, total);
    const pct = cpu?.pctOfCore["peer worker"] ?? NaN;
    return {
      label,
      config: c,
      rows: total,
      wallS,
      perSecond: total / wallS,
      steady10to90PerSecond: steadyRate(samples, total),
      steadyPerSecond: span.spanRate,
      firstRowAfterS: span.firstRowMs / 1000,
      workerCpuS: pct / 100 * (cpu?.wallS ?? NaN),
      workerPctOfCore: pct,
      peakMiB,
      verified,
      ...(cpu === undefined ? {} : { cpu }),
    };
  } finally {
    await tracker.stop({});
    await sampler.stop();
    await counter.end();
    await terminate(child, status, 15_000);
    await pumps.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The first failed task's (or the connector's) trace, first line, from the worker's REST API; undefined otherwise. */
async function failedTask(connector: string): Promise<string | undefined> {
  let body: {
    connector?: { state?: string; trace?: string };
    tasks?: { id: number; state?: string; trace?: string }[];
  };
  try {
    const res = await fetch(`http://127.0.0.1:${PEER_REST_PORT}/connectors/${connector}/status`);
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    body = await res.json();
  } catch {
    return undefined; // not listening yet
  }
  const failed = [body.connector, ...(body.tasks ?? [])].find((t) => t?.state === "FAILED");
  return failed === undefined ? undefined : (failed.trace ?? "no trace").split("\n").slice(0, 3).join(" | ");
}

/** Our sink run a peer run is compared with. */
export interface OurSink {
  /** Consumer processes (compared with `tasks.max`). */
  consumers: number;
  /** Valid readings / seconds from process start to every record committed. */
  readingsPerSecond: number;
  /** Readings per second from the first batch's transaction to every record committed. */
  steadyReadingsPerSecond: number;
}

/**
 * The report's rows for the peer phase: its ceiling beside ours, each run, and for each task count
 * the ratio of our sink to the best configuration (from process start, and steady) beside the ratio
 * of each to its own table's COPY ceiling.
 *
 * @param ours our 1-consumer (and n-consumer) sink runs of the same bench run
 * @param ourCeiling our COPY ceiling (rows/s, the mean of before and after the sink)
 */
export function peerReport(p: PeerResults, ours: readonly OurSink[], ourCeiling: number | undefined): string[][] {
  const rows: string[][] = [[
    "peer: COPY ceiling of its table",
    `${num(p.ceiling.perSecond)} rows/s`,
    `${num(p.ceiling.rows)} readings into (${PEER_COLUMNS.join(", ")}), primary key only; mean of ${
      num(p.ceiling.before)
    } before and ${num(p.ceiling.after)} after its runs; our ceiling ${num(ourCeiling)} rows/s is ${
      ratio(ourCeiling, p.ceiling.perSecond)
    } of it (partitions, category, coordinates, ingested_at, BRIN + partial indexes, rollup)`,
  ]];
  for (const r of p.runs) {
    rows.push([
      `peer: ${r.label}${r.label === p.best ? " (best)" : ""}`,
      `${num(r.perSecond)} rows/s`,
      `${num(r.rows)} in ${num(r.wallS, 1)} s from worker start (first rows after ${
        num(r.firstRowAfterS, 1)
      } s); steady ${num(r.steadyPerSecond)}/s (10–90 %: ${num(r.steady10to90PerSecond)}/s); ${
        ratio(r.perSecond, p.ceiling.perSecond, 3)
      } its ceiling; worker ${num(r.workerCpuS, 1)} CPU-s (${num(r.workerPctOfCore)}% of a core), peak RSS ${
        num(r.peakMiB)
      } MiB${r.verified ? "" : "; ROW COUNTS WRONG"}`,
    ]);
  }
  const best = p.runs.find((r) => r.label === p.best);
  if (best === undefined) return rows;
  const compared = [best, ...p.runs.filter((r) => r.config.tasks !== best.config.tasks)];
  for (const r of compared) {
    const o = ours.find((s) => s.consumers === r.config.tasks);
    if (o === undefined) continue;
    rows.push([
      `ours ÷ peer, ${o.consumers} consumer${o.consumers === 1 ? "" : "s"} ÷ ${r.config.tasks} task${
        r.config.tasks === 1 ? "" : "s"
      }`,
      ratio(o.readingsPerSecond, r.perSecond),
      `from process start: ${num(o.readingsPerSecond)} ÷ ${num(r.perSecond)} readings/s; steady ${
        ratio(o.steadyReadingsPerSecond, r.steadyPerSecond)
      } (${num(o.steadyReadingsPerSecond)} ÷ ${num(r.steadyPerSecond)}); ours ÷ our ceiling ${
        ratio(o.readingsPerSecond, ourCeiling)
      }, peer ÷ its ceiling ${ratio(r.perSecond, p.ceiling.perSecond, 3)}; peer: ${r.label}`,
    ]);
  }
  return rows;
}
