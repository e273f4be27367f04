/**
 * The settings of `deno task dev`, defined once as the programs' are (lib/config): flag, env,
 * default, help and zod schema. The ports are those of the local services and the programs'
 * metrics; they take the same environment variables as scripts/kafka.sh, scripts/postgres.sh and
 * the programs, so one export moves all of them.
 *
 * @module
 */
import { z } from "zod";
import { type OptionTable, parse } from "../../lib/config/mod.ts";

/** What `deno task dev --help` says first. */
export const DEV_USAGE = `usage: deno task dev [options]
       deno task dev:down

Runs the whole pipeline on this machine: Kafka and PostgreSQL (with Docker, the compose stack with
Prometheus and Grafana; without it, scripts/kafka.sh and the running PostgreSQL or scripts/postgres.sh,
and Debian's prometheus when installed), the schema, then the consumer and a producer, in one console. Ctrl-C (or deno task dev:down from another
terminal) stops what it started and nothing else.`;

/** The settings of `deno task dev`. */
export const devOptions = {
  infra: {
    flag: "infra",
    env: "HEARTBEAT_DEV_INFRA",
    help:
      "Where Kafka and PostgreSQL come from: auto (what answers; else compose when Docker's engine answers; else local), docker, or local",
    default: "auto",
    schema: z.enum(["auto", "docker", "local"], { message: "expected auto, docker or local" }),
  },
  rate: {
    flag: "rate",
    env: "HEARTBEAT_DEV_RATE",
    help: "Readings per second the producer sends",
    default: "20",
    schema: parse.positiveNumber,
  },
  customers: {
    flag: "customers",
    env: "HEARTBEAT_DEV_CUSTOMERS",
    help: "Simulated customers (monitors)",
    default: "10",
    schema: parse.positiveInt,
  },
  statusEvery: {
    flag: "status-every",
    env: "HEARTBEAT_DEV_STATUS_EVERY",
    help: "How often the status line is printed (0s: never)",
    default: "10s",
    schema: parse.duration,
  },
  kafkaPort: {
    flag: "kafka-port",
    env: "KAFKA_PORT",
    help: "Port of the local Kafka (scripts/kafka.sh's KAFKA_PORT; compose publishes 9092)",
    default: "9092",
    schema: parse.port.pipe(z.number().min(1, "expected a port number from 1 to 65535")),
  },
  postgresPort: {
    flag: "postgres-port",
    env: "PG_PORT",
    help: "Port of the local PostgreSQL (scripts/postgres.sh's PG_PORT; compose publishes 5432)",
    default: "5432",
    schema: parse.port.pipe(z.number().min(1, "expected a port number from 1 to 65535")),
  },
  consumerMetricsPort: {
    flag: "consumer-metrics-port",
    env: "HEARTBEAT_CONSUMER_METRICS_PORT",
    help: "The consumer's /metrics, /healthz and /readyz port",
    default: "9464",
    schema: parse.port.pipe(z.number().min(1, "expected a port number from 1 to 65535")),
  },
  producerMetricsPort: {
    flag: "producer-metrics-port",
    env: "HEARTBEAT_PRODUCER_METRICS_PORT",
    help: "The producer's /metrics port",
    default: "9465",
    schema: parse.port.pipe(z.number().min(1, "expected a port number from 1 to 65535")),
  },
  prometheusPort: {
    flag: "prometheus-port",
    env: "HEARTBEAT_DEV_PROMETHEUS_PORT",
    help:
      "Port of the Prometheus dev starts without Docker, when prometheus is installed (0: none; compose publishes 9090)",
    default: "9090",
    schema: parse.port,
  },
} satisfies OptionTable;
