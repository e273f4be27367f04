/**
 * The settings of the producer and the consumer, each defined once (flag, environment variable,
 * default, help, schema): `--help`, the README's option tables and the tasks' `--allow-env` lists
 * all come from here.
 *
 * @module
 */
import { z } from "zod";
import { type ConfigOf, optional, type OptionSpec, type OptionTable, parse } from "./options.ts";
import { databaseSecurityOptions, kafkaSecurityOptions } from "./security.ts";

/** An option table's keys with a prefix: `sslmode` → `databaseSslmode`. */
type Prefixed<P extends string, T> = { [K in keyof T & string as `${P}${Capitalize<K>}`]: T[K] };

/** Prefixes every key of an option table (its flags and env names stay as they are). */
export function prefixed<P extends string, T extends Record<string, OptionSpec>>(prefix: P, table: T): Prefixed<P, T> {
  return Object.fromEntries(
    Object.entries(table).map(([k, v]) => [`${prefix}${k[0]!.toUpperCase()}${k.slice(1)}`, v]),
  ) as Prefixed<P, T>;
}

const common = {
  brokers: {
    flag: "brokers",
    env: "KAFKA_BROKERS",
    help: "Kafka bootstrap brokers, comma-separated host:port",
    default: "127.0.0.1:9092",
    schema: parse.brokers,
  },
  topic: {
    flag: "topic",
    env: "KAFKA_TOPIC",
    help: "Kafka topic of the readings",
    default: "heartbeat-readings",
    schema: parse.topic,
  },
  partitions: {
    flag: "partitions",
    env: "HEARTBEAT_PARTITIONS",
    help: "Partitions of the topic when it has to be created",
    default: "6",
    schema: parse.positiveInt,
  },
  logLevel: {
    flag: "log-level",
    env: "LOG_LEVEL",
    help: "Least severe log level printed: debug, info, warn, error",
    default: "info",
    schema: parse.logLevel,
  },
  ...kafkaSecurityOptions,
  kafkajsPatches: {
    env: "HEARTBEAT_KAFKAJS_PATCHES",
    help:
      "`off` runs kafkajs without its four speed patches; the two fixes stay (docs/architecture.md); read before kafkajs loads, so environment only",
    default: "on",
    schema: z.enum(["on", "off"], { message: "expected on or off" }),
  },
} satisfies OptionTable;

const metricsHost = {
  flag: "metrics-host",
  env: "HEARTBEAT_METRICS_HOST",
  help: "Address the metrics and health endpoint listens on",
  default: "127.0.0.1",
  schema: parse.host,
} satisfies OptionSpec;

/** What `--help` says first, per program. */
export const USAGE = {
  producer:
    "usage: deno task producer [options]\n\nSimulates heart-rate monitors and publishes their readings to Kafka.",
  consumer:
    "usage: deno task consumer [options]\n\nValidates heart-rate readings from Kafka and stores them in PostgreSQL.",
  migrate:
    "usage: deno task db:migrate [--admin-url URL]\n\nCreates the database when missing, applies the migrations of sql/migrations/ it has not\napplied yet, in order, then sql/roles.sql.",
  maintain:
    "usage: deno task db:maintain [--dry-run] [--retention readings=30d,...] [--premake DAYS]\n\nMakes the time partitions of the days ahead, moves rows out of the default partitions, and\ndrops partitions older than their table's retention window (the consumer does the same at\nstart and every --maintain-every).",
} as const;

/** The producer's (simulator's) settings. */
export const producerOptions = {
  ...common,
  customers: {
    flag: "customers",
    env: "HEARTBEAT_CUSTOMERS",
    help: "Number of simulated customers (CUST-001, CUST-002, ...)",
    default: "10",
    schema: parse.positiveInt.pipe(z.number().max(999_999, "expected at most 999999 customers")),
  },
  rate: {
    flag: "rate",
    env: "HEARTBEAT_RATE",
    help: "Readings per second, all customers together",
    default: "10",
    schema: parse.positiveNumber,
  },
  count: {
    flag: "count",
    env: "HEARTBEAT_COUNT",
    help: "Stop after this many messages (default: run until stopped)",
    schema: optional(parse.positiveInt),
  },
  duration: {
    flag: "duration",
    env: "HEARTBEAT_DURATION",
    help: "Stop after this much simulated time, e.g. 30s, 5m (default: run until stopped)",
    schema: optional(parse.duration),
  },
  seed: {
    flag: "seed",
    env: "HEARTBEAT_SEED",
    help: "Random seed; the same seed and start give the same messages",
    default: "1",
    schema: parse.nonNegativeInt,
  },
  start: {
    flag: "start",
    env: "HEARTBEAT_START",
    help: "Simulated time of the first reading (ISO 8601 with zone, or now); past times backfill at full speed",
    default: "now",
    schema: parse.time,
  },
  anomalyRate: {
    flag: "anomaly-rate",
    env: "HEARTBEAT_ANOMALY_RATE",
    help: "Chance per reading that a customer starts an anomaly episode (bradycardia/tachycardia)",
    default: "0.002",
    schema: parse.fraction,
  },
  invalidRate: {
    flag: "invalid-rate",
    env: "HEARTBEAT_INVALID_RATE",
    help: "Fraction of messages replaced by an injected fault (malformed, out of range, missing field...)",
    default: "0.01",
    schema: parse.fraction,
  },
  timeZones: {
    flag: "time-zones",
    env: "HEARTBEAT_TIME_ZONES",
    help: "Customers' time zones as UTC offsets, dealt out in turn (sleep and the day follow local time)",
    default: "+00:00",
    schema: parse.utcOffsets,
  },
  dropoutRate: {
    flag: "dropout-rate",
    env: "HEARTBEAT_DROPOUT_RATE",
    help: "Chance per reading that a device starts losing readings (a gap of 5-60 readings)",
    default: "0",
    schema: parse.fraction,
  },
  artefactRate: {
    flag: "artefact-rate",
    env: "HEARTBEAT_ARTEFACT_RATE",
    help: "Chance per reading of a motion artefact (1-3 readings replaced by an implausible spike)",
    default: "0",
    schema: parse.fraction,
  },
  lateRate: {
    flag: "late-rate",
    env: "HEARTBEAT_LATE_RATE",
    help: "Chance per reading that a device's link holds 5-60 readings and delivers them late, after newer ones",
    default: "0",
    schema: parse.fraction,
  },
  duplicateRate: {
    flag: "duplicate-rate",
    env: "HEARTBEAT_DUPLICATE_RATE",
    help: "Chance per reading that it is delivered twice",
    default: "0",
    schema: parse.fraction,
  },
  clockSkew: {
    flag: "clock-skew",
    env: "HEARTBEAT_CLOCK_SKEW",
    help: "Largest device clock error; each device's timestamps are off by a fixed amount within ± this (at most 4m)",
    default: "0s",
    schema: parse.duration.pipe(z.number().max(240_000, "expected at most 4m (the consumer's --future-skew is 5m)")),
  },
  batchSize: {
    flag: "batch-size",
    env: "HEARTBEAT_PRODUCER_BATCH_SIZE",
    help: "Most messages in one produce request (a request is also cut at 1 MB)",
    default: "5000",
    schema: parse.positiveInt,
  },
  lingerMs: {
    flag: "linger-ms",
    env: "HEARTBEAT_PRODUCER_LINGER_MS",
    help: "How long a message may wait for its batch to fill before it is sent",
    default: "20",
    schema: parse.nonNegativeInt,
  },
  compression: {
    flag: "compression",
    env: "HEARTBEAT_COMPRESSION",
    help: "Produce-request compression: zstd, gzip or none",
    default: "zstd",
    schema: z.enum(["zstd", "gzip", "none"], { message: "expected zstd, gzip or none" }),
  },
  dryRun: {
    flag: "dry-run",
    env: "HEARTBEAT_DRY_RUN",
    help: "Print the messages as NDJSON on stdout instead of sending them",
    default: "false",
    boolean: true,
    schema: parse.boolean,
  },
  metricsHost,
  metricsPort: {
    flag: "metrics-port",
    env: "HEARTBEAT_PRODUCER_METRICS_PORT",
    help: "Port of the /metrics, /healthz and /readyz endpoint; 0 turns it off",
    default: "9465",
    schema: parse.port,
  },
} satisfies OptionTable;

/** The consumer's settings. */
export const consumerOptions = {
  ...common,
  databaseUrl: {
    flag: "database-url",
    env: "DATABASE_URL",
    help: "PostgreSQL URL of the heartbeat database, as the heartbeat_writer role (sql/roles.sql)",
    default: "postgres://heartbeat_writer:heartbeat_writer@127.0.0.1:5432/heartbeat",
    schema: parse.databaseUrl,
  },
  ...prefixed("database", databaseSecurityOptions("DATABASE", "database")),
  group: {
    flag: "group",
    env: "KAFKA_GROUP_ID",
    help: "Kafka consumer group id",
    default: "heartbeat-consumer",
    schema: z.string().min(1, "expected a group id"),
  },
  batchSize: {
    flag: "batch-size",
    env: "HEARTBEAT_CONSUMER_BATCH_SIZE",
    help: "Most messages written in one database transaction",
    default: "5000",
    schema: parse.positiveInt,
  },
  batchWaitMs: {
    flag: "batch-wait-ms",
    env: "HEARTBEAT_CONSUMER_BATCH_WAIT_MS",
    help: "Longest a message waits for its batch to fill before the batch is written",
    default: "5",
    schema: parse.nonNegativeInt,
  },
  writers: {
    flag: "writers",
    env: "HEARTBEAT_CONSUMER_WRITERS",
    help: "Batches written at once, each in its own transaction and database connection",
    default: "2",
    schema: parse.positiveInt,
  },
  maxMessageBytes: {
    flag: "max-message-bytes",
    env: "HEARTBEAT_MAX_MESSAGE_BYTES",
    help: "Messages larger than this are rejected before parsing (too_large)",
    default: "16384",
    schema: parse.positiveInt,
  },
  futureSkew: {
    flag: "future-skew",
    env: "HEARTBEAT_FUTURE_SKEW",
    help: "How far in the future a reading's timestamp may be (device clock skew)",
    default: "5m",
    schema: parse.duration,
  },
  fromBeginning: {
    flag: "from-beginning",
    env: "HEARTBEAT_FROM_BEGINNING",
    help: "With no committed offsets, start from the oldest message instead of the newest",
    default: "true",
    boolean: true,
    schema: parse.boolean,
  },
  episodeMinReadings: {
    flag: "episode-min-readings",
    env: "HEARTBEAT_EPISODE_MIN_READINGS",
    help: "Abnormal readings (single noisy ones tolerated) before a sustained episode raises an alert",
    default: "5",
    schema: parse.positiveInt,
  },
  episodeMinDuration: {
    flag: "episode-min-duration",
    env: "HEARTBEAT_EPISODE_MIN_DURATION",
    help: "Least time from an episode's first abnormal reading to its alert",
    default: "3s",
    schema: parse.duration,
  },
  episodeEndAfter: {
    flag: "episode-end-after",
    env: "HEARTBEAT_EPISODE_END_AFTER",
    help: "Consecutive readings back in range that end an episode",
    default: "3",
    schema: parse.positiveInt,
  },
  alertsTopic: {
    flag: "alerts-topic",
    env: "KAFKA_ALERTS_TOPIC",
    help: "Kafka topic for alert opened/closed events (none = do not publish)",
    default: "heartbeat-alerts",
    schema: z.union([z.literal("none"), parse.topic]),
  },
  sessionTimeout: {
    flag: "session-timeout",
    env: "KAFKA_SESSION_TIMEOUT",
    help: "How long the group waits for a silent member before moving its partitions (6s to 5m)",
    default: "30s",
    schema: parse.duration.pipe(z.number().min(6_000, "expected at least 6s").max(300_000, "expected at most 5m")),
  },
  fetchBytes: {
    flag: "fetch-bytes",
    env: "HEARTBEAT_CONSUMER_FETCH_BYTES",
    help: "Most compressed bytes one Kafka fetch takes from a partition (memory against throughput)",
    default: "65536",
    schema: parse.positiveInt.pipe(z.number().min(1_024, "expected at least 1024 bytes")),
  },
  failpoint: {
    flag: "failpoint",
    env: "HEARTBEAT_FAILPOINT",
    help: "Testing only: pause-after-db-commit:<ms> sleeps between the database commit and the offset commit",
    default: "none",
    schema: z.string().regex(/^(none|pause-after-db-commit:\d+)$/, "expected none or pause-after-db-commit:<ms>")
      .transform((s) => s === "none" ? 0 : Number(s.split(":")[1])),
  },
  maintainEvery: {
    flag: "maintain-every",
    env: "HEARTBEAT_CONSUMER_MAINTAIN_EVERY",
    help:
      "How often the consumer runs the partition maintenance (partitions ahead, retention), besides at start; 0s: only at start",
    default: "1h",
    schema: parse.duration.pipe(
      z.number().refine((ms) => ms === 0 || ms >= 60_000, "expected 0s or at least 1m"),
    ),
  },
  metricsHost,
  metricsPort: {
    flag: "metrics-port",
    env: "HEARTBEAT_CONSUMER_METRICS_PORT",
    help: "Port of the /metrics, /healthz and /readyz endpoint; 0 turns it off",
    default: "9464",
    schema: parse.port,
  },
} satisfies OptionTable;

/** The episode detector's settings of a consumer config (the domain's `DetectorSettings`). */
export function detectorSettings(
  c: ConsumerConfig,
): { minReadings: number; minDurationMs: number; endAfterNormal: number } {
  return { minReadings: c.episodeMinReadings, minDurationMs: c.episodeMinDuration, endAfterNormal: c.episodeEndAfter };
}

/** The simulation settings of a producer config (the simulator's `SimulatorOptions`, without callbacks). */
export function simulation(c: ProducerConfig): {
  seed: number;
  customers: number;
  rate: number;
  startMs: number;
  anomalyRate: number;
  invalidRate: number;
  utcOffsetsMin: number[];
  sensor: { dropoutRate: number; artefactRate: number; lateRate: number; duplicateRate: number; clockSkewMs: number };
} {
  const { seed, customers, rate, anomalyRate, invalidRate, dropoutRate, artefactRate, lateRate, duplicateRate } = c;
  return {
    ...{ seed, customers, rate, startMs: c.start, anomalyRate, invalidRate, utcOffsetsMin: c.timeZones },
    sensor: { dropoutRate, artefactRate, lateRate, duplicateRate, clockSkewMs: c.clockSkew },
  };
}

/** `deno task db:migrate`'s settings: the admin URL and its security settings. */
export const migrateOptions = {
  databaseUrl: {
    flag: "admin-url",
    env: "DATABASE_ADMIN_URL",
    help: "PostgreSQL URL of the heartbeat database as a role that may create databases and roles",
    default: "postgres://postgres:heartbeat@127.0.0.1:5432/heartbeat",
    schema: parse.databaseUrl,
  },
  ...prefixed("database", databaseSecurityOptions("DATABASE_ADMIN", "admin")),
  logLevel: common.logLevel,
} satisfies OptionTable;

/** A `--retention` list, e.g. `readings=30d,readings_5s=90d` (`keep`: for ever). */
const retentionList = z.string().trim().transform((s, ctx) => {
  const out: Record<string, number | null> = {};
  if (s === "") return out;
  for (const item of s.split(",").map((i) => i.trim())) {
    const m = /^([a-z_0-9]+)=(?:keep|(\d+)(d|h))$/.exec(item);
    if (m === null) {
      ctx.addIssue({
        code: "custom",
        message: "expected table=<days>d, table=<hours>h or table=keep, comma-separated",
      });
      return z.NEVER;
    }
    out[m[1]!] = m[2] === undefined ? null : Number(m[2]) * (m[3] === "d" ? 86_400_000 : 3_600_000);
  }
  return out;
});

/** `deno task db:maintain`'s settings: db:migrate's connection, a dry run, and settings to change first. */
export const maintainOptions = {
  ...migrateOptions,
  dryRun: {
    flag: "dry-run",
    env: "HEARTBEAT_MAINTAIN_DRY_RUN",
    help: "Print what maintenance would create, move and drop; change nothing",
    default: "false",
    boolean: true,
    schema: parse.boolean,
  },
  retention: {
    flag: "retention",
    env: "HEARTBEAT_RETENTION",
    help: "Set retention windows first, e.g. readings=30d,readings_5s=90d (keep: for ever); kept in the database",
    default: "",
    schema: retentionList,
  },
  premake: {
    flag: "premake",
    env: "HEARTBEAT_PREMAKE",
    help: "Set how many days of partitions are made ahead (every partitioned table); kept in the database",
    schema: optional(parse.positiveInt.pipe(z.number().max(366, "expected at most 366"))),
  },
} satisfies OptionTable;

/** db:maintain's parsed config. */
export type MaintainConfig = ConfigOf<typeof maintainOptions>;
/** db:migrate's parsed config. */
export type MigrateConfig = ConfigOf<typeof migrateOptions>;
/** The producer's parsed config. */
export type ProducerConfig = ConfigOf<typeof producerOptions>;
/** The consumer's parsed config. */
export type ConsumerConfig = ConfigOf<typeof consumerOptions>;
