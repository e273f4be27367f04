/**
 * Configuration: every setting of the producer and the consumer, defined once with its flag, its
 * environment variable, its default and its zod schema. {@link parseConfig} reads flags and env
 * once, validates them, and fails fast with one line naming the bad setting; {@link helpText}
 * and the README's configuration table come from the same definitions, so they cannot drift.
 *
 * Requires `--allow-env` for the environment variables of the options it is given
 * (see {@link envNames}).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "zod";

/** One setting: its flag, env var, default, help text and schema (which parses the raw string). */
export interface OptionSpec<T = unknown> {
  /** Long flag name without dashes, e.g. `rate`. */
  flag: string;
  /** Environment variable, e.g. `HEARTBEAT_RATE`. */
  env: string;
  /** What it does, one line. */
  help: string;
  /** Default as the user would type it, or undefined when the setting is optional. */
  default?: string;
  /** A boolean switch (`--dry-run`), which takes no value on the command line. */
  boolean?: boolean;
  /** Parses and validates the raw string. */
  schema: z.ZodType<T>;
}

/** A table of options keyed by their name in the parsed config. */
export type OptionTable = Record<string, OptionSpec>;

/** The typed config an {@link OptionTable} parses to. */
export type ConfigOf<T extends OptionTable> = { [K in keyof T]: z.output<T[K]["schema"]> };

/** Thrown for a bad flag or env value; the message is the one line to print. */
export class ConfigError extends Error {
  /** @param message one line naming the setting and the bad value */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** zod schemas for raw strings, shared by the option tables. */
export const parse = {
  /** A positive integer, e.g. `5000`. */
  positiveInt: z.string().trim().regex(/^\d+$/, "expected a whole number").transform(Number)
    .pipe(z.number().int().positive("expected a whole number above 0").max(Number.MAX_SAFE_INTEGER)),
  /** A non-negative integer, e.g. `0`. */
  nonNegativeInt: z.string().trim().regex(/^\d+$/, "expected a whole number").transform(Number)
    .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)),
  /** A positive number, e.g. `2.5`. */
  positiveNumber: z.string().trim().regex(/^\d+(\.\d+)?$/, "expected a number").transform(Number)
    .pipe(z.number().positive("expected a number above 0")),
  /** A fraction from 0 to 1, e.g. `0.01`. */
  fraction: z.string().trim().regex(/^\d+(\.\d+)?$/, "expected a number from 0 to 1")
    .transform(Number).pipe(z.number().min(0).max(1, "expected a number from 0 to 1")),
  /** `true`/`false` (also 1/0, yes/no). */
  boolean: z.string().trim().toLowerCase().pipe(
    z.enum(["true", "false", "1", "0", "yes", "no"], { message: "expected true or false" }),
  ).transform((v) => v === "true" || v === "1" || v === "yes"),
  /** A comma-separated list of `host:port`. */
  brokers: z.string().transform((s) => s.split(",").map((b) => b.trim()).filter((b) => b !== ""))
    .pipe(
      z.array(z.string().regex(/^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port"))
        .min(1, "expected at least one host:port"),
    ),
  /** A Kafka topic name. */
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, "expected a Kafka topic name (letters, digits, . _ -)"),
  /** A `postgres://` or `postgresql://` URL. */
  databaseUrl: z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "postgres:" || u.protocol === "postgresql:") && u.hostname !== "";
    } catch {
      return false;
    }
  }, "expected a postgres://user@host:port/database URL"),
  /** A log level. */
  logLevel: z.enum(["debug", "info", "warn", "error"], { message: "expected debug, info, warn or error" }),
  /** An ISO 8601 time with timezone, or `now`; parsed to epoch milliseconds. */
  time: z.string().trim().transform((s, ctx) => {
    if (s === "now") return Date.now();
    const ms = /\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(s) ? Date.parse(s) : NaN;
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: "custom", message: "expected an ISO 8601 time with timezone, or now" });
      return z.NEVER;
    }
    return ms;
  }),
  /** A duration like `30s`, `5m`, `1h`, `250ms`; parsed to milliseconds. */
  duration: z.string().trim().transform((s, ctx) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
    if (m === null) {
      ctx.addIssue({ code: "custom", message: "expected a duration like 500ms, 30s, 5m or 1h" });
      return z.NEVER;
    }
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
    return Number(m[1]) * unit;
  }),
  /** A host name or an IP address (IPv6 without brackets), e.g. `127.0.0.1`. */
  host: z.string().trim().regex(/^[A-Za-z0-9._-]+$|^[0-9a-fA-F:]+$/, "expected a host name or IP address"),
  /** A TCP port, 0 meaning off. */
  port: z.string().trim().regex(/^\d+$/, "expected a port number").transform(Number)
    .pipe(z.number().int().min(0).max(65535, "expected a port number from 0 to 65535")),
} as const;

/** Wraps a schema so that a missing value stays `undefined`. */
export function optional<T>(schema: z.ZodType<T>): z.ZodType<T | undefined> {
  return schema.optional() as z.ZodType<T | undefined>;
}

/** The environment variables an option table reads, sorted (for `--allow-env`). */
export function envNames(table: OptionTable): string[] {
  return Object.values(table).map((o) => o.env).sort();
}

/** What {@link parseConfig} reads: argv and a lookup of env names. */
export interface ConfigSource {
  /** Command-line arguments, e.g. `Deno.args`. */
  args: string[];
  /** Reads one environment variable, e.g. `(name) => Deno.env.get(name)`. */
  env: (name: string) => string | undefined;
}

/** The result of {@link parseConfig}: a config, or a request for help. */
export type ParseResult<T extends OptionTable> = { help: true } | { help: false; config: ConfigOf<T> };

/**
 * Parses flags (which win) and env vars against an option table, validating every value.
 *
 * @throws {ConfigError} naming the flag or env var and the bad value, in one line
 * @example
 * ```ts
 * import { parseConfig, parse } from "./options.ts";
 * const table = { rate: { flag: "rate", env: "RATE", help: "readings/s", default: "10", schema: parse.positiveNumber } };
 * const result = parseConfig(table, { args: ["--rate", "50"], env: () => undefined });
 * // result.help === false && result.config.rate === 50
 * ```
 */
export function parseConfig<T extends OptionTable>(table: T, source: ConfigSource): ParseResult<T> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const spec of Object.values(table)) {
    options[spec.flag] = { type: spec.boolean ? "boolean" : "string" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: source.args, options, strict: true, allowPositionals: false }));
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] ?? "" : String(error);
    throw new ConfigError(`${message.replace(/\. To specify.*$/, "")} (see --help)`, { cause: error });
  }
  if (values.help === true) return { help: true };
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const flagValue = values[spec.flag];
    let raw: string | undefined;
    let origin: string;
    if (flagValue !== undefined) {
      raw = typeof flagValue === "boolean" ? String(flagValue) : flagValue;
      origin = `--${spec.flag}`;
    } else if (source.env(spec.env) !== undefined && source.env(spec.env) !== "") {
      raw = source.env(spec.env);
      origin = `${spec.env} (environment)`;
    } else {
      raw = spec.default;
      origin = `--${spec.flag} (default)`;
    }
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const why = result.error.issues[0]?.message ?? "invalid value";
      const shown = raw === undefined ? "nothing" : JSON.stringify(raw);
      throw new ConfigError(`Invalid ${origin}: ${why}, got ${shown}`);
    }
    config[name] = result.data;
  }
  return { help: false, config: config as ConfigOf<T> };
}

/** Renders `--help` for an option table. */
export function helpText(usage: string, table: OptionTable): string {
  const rows = Object.values(table).map((o) => {
    const flag = o.boolean ? `--${o.flag}` : `--${o.flag} <value>`;
    const dflt = o.default === undefined ? "" : ` (default: ${o.default})`;
    return `  ${flag.padEnd(28)} ${o.help}${dflt}\n  ${"".padEnd(28)} env ${o.env}`;
  });
  return `${usage}\n\nOptions:\n${rows.join("\n")}\n  ${"--help, -h".padEnd(28)} Show this help\n`;
}

/** Renders an option table as a Markdown table (the README embeds it; a test compares them). */
export function markdownTable(table: OptionTable): string {
  const lines = ["| flag | env | default | meaning |", "|---|---|---|---|"];
  for (const o of Object.values(table)) {
    const flag = o.boolean ? `--${o.flag}` : `--${o.flag}`;
    lines.push(`| \`${flag}\` | \`${o.env}\` | ${o.default === undefined ? "" : `\`${o.default}\``} | ${o.help} |`);
  }
  return lines.join("\n");
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
} satisfies OptionTable;

const metricsHost = {
  flag: "metrics-host",
  env: "HEARTBEAT_METRICS_HOST",
  help: "Address the metrics and health endpoint listens on (must be in --allow-net with the port)",
  default: "127.0.0.1",
  schema: parse.host,
} satisfies OptionSpec;

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
    help: "Produce-request compression: gzip or none",
    default: "gzip",
    schema: z.enum(["gzip", "none"], { message: "expected gzip or none" }),
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
    help: "Port of the /metrics, /healthz and /readyz endpoint; 0 turns it off (another port must be in --allow-net)",
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
  metricsHost,
  metricsPort: {
    flag: "metrics-port",
    env: "HEARTBEAT_CONSUMER_METRICS_PORT",
    help: "Port of the /metrics, /healthz and /readyz endpoint; 0 turns it off (another port must be in --allow-net)",
    default: "9464",
    schema: parse.port,
  },
} satisfies OptionTable;

/** The producer's parsed config. */
export type ProducerConfig = ConfigOf<typeof producerOptions>;
/** The consumer's parsed config. */
export type ConsumerConfig = ConfigOf<typeof consumerOptions>;
