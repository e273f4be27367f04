/**
 * The benchmark's data set: the exact messages the producer script sends for a given seed, start,
 * rate and fleet (the simulator is deterministic), run through the consumer's own validator, so
 * that the COPY ceiling and the baselines store the very rows the sink stores.
 *
 * Rows are kept as ready-to-send `COPY ... FROM STDIN` text chunks (encoding is not timed), plus a
 * sample of readings as objects for the one-INSERT-per-row baselines.
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import { Buffer } from "node:buffer";
import { type PartitionerArgs, Partitioners } from "kafkajs";
import { createValidator, type Reading, type Rejection } from "../lib/domain/reading.ts";
import { Simulator } from "../lib/simulator/simulator.ts";

/** What the producer script is asked to send; the same options give the same messages. */
export interface Workload {
  /** Topic the messages go to (dead letters record it). */
  topic: string;
  /** Messages in total (valid and invalid). */
  count: number;
  /** `--seed` of the producer. */
  seed: number;
  /** `--customers` of the producer. */
  customers: number;
  /** `--rate` of the producer (readings/s of simulated time). */
  rate: number;
  /** `--start` of the producer, epoch ms. */
  startMs: number;
  /** `--anomaly-rate` of the producer. */
  anomalyRate: number;
  /** `--invalid-rate` of the producer. */
  invalidRate: number;
  /** Partitions of the topic. */
  partitions: number;
}

/** A valid reading with the Kafka position it would be read from. */
export interface SampleReading extends Reading {
  /** Partition chosen by the producer's partitioner (murmur2 of the key). */
  partition: number;
  /** Offset within that partition. */
  offset: number;
}

/** The data set of a {@link Workload}. */
export interface Dataset {
  /** Valid readings (rows of `readings`). */
  readings: number;
  /** Rejected messages (rows of `dead_letters`). */
  deadLetters: number;
  /** `COPY readings (<columns>) FROM STDIN` chunks, text format. */
  readingChunks: Buffer[];
  /** `COPY dead_letters (DEAD_LETTER_COLUMNS) FROM STDIN` chunks, text format. */
  deadLetterChunks: Buffer[];
  /** The first valid readings, for the one-INSERT-per-row baselines. */
  sample: SampleReading[];
  /** Mean size of a message value in bytes, every message included (for the Java perf tool). */
  meanValueBytes: number;
  /** Mean size of a valid message value in bytes. */
  meanValidValueBytes: number;
  /** Message values as text lines without newlines, for the Java perf tool's `--payload-file`. */
  payloadLines: string[];
  /** Rejections by reason code. */
  reasons: Record<string, number>;
  /** Milliseconds it took to simulate, validate and encode. */
  buildMs: number;
}

/** Columns of `dead_letters` the pipeline writes, in COPY order (`kafka_time`, the partition key, since migration 005). */
export const DEAD_LETTER_COLUMNS =
  "topic, kafka_partition, kafka_offset, kafka_key, kafka_timestamp, payload, payload_bytes, reason, reasons, kafka_time";

const NULL = "\\N";

/** Escapes a value for COPY text format (backslash, tab, newline, carriage return). */
function copyText(value: string): string {
  return /[\\\t\n\r]/.test(value)
    ? value.replaceAll("\\", "\\\\").replaceAll("\t", "\\t").replaceAll("\n", "\\n").replaceAll("\r", "\\r")
    : value;
}

/** A bytea in COPY text format: `\\x` and hex (the backslash itself escaped). */
function copyBytea(bytes: Uint8Array | null): string {
  return bytes === null ? NULL : `\\\\x${Buffer.from(bytes).toString("hex")}`;
}

/** One value in COPY text format. */
function copyValue(value: unknown): string {
  if (value === null || value === undefined) return NULL;
  if (typeof value === "boolean") return value ? "t" : "f";
  return copyText(String(value));
}

/**
 * How the columns of `readings` are filled from a validated reading, found from the table itself
 * so that a column the pipeline adds is filled too: `kafka_partition` and `kafka_offset` from the
 * record's position, every other column from the reading's field of the same name in camelCase
 * (`heart_rate` from `heartRate`). Columns with a default and no such field (`ingested_at`) are
 * left to their default.
 */
export interface ReadingColumns {
  /** The column names, in COPY order. */
  names: string[];
  /** The values of one row, in the same order. */
  values(reading: SampleReading): unknown[];
}

const camel = (column: string) => column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * Maps the columns of `readings` (as `information_schema` lists them) to a reading's fields.
 *
 * @param columns name, whether it has a default, whether it is nullable
 * @param example a validated reading, to see which fields exist
 * @throws {Error} when a column without a default matches no field
 */
export function readingColumns(
  columns: { name: string; hasDefault: boolean; nullable: boolean }[],
  example: Reading,
): ReadingColumns {
  const getters: { name: string; get: (r: SampleReading) => unknown }[] = [];
  for (const c of columns) {
    if (c.name === "kafka_partition") getters.push({ name: c.name, get: (r) => r.partition });
    else if (c.name === "kafka_offset") getters.push({ name: c.name, get: (r) => r.offset });
    else if (camel(c.name) in example) {
      const field = camel(c.name) as keyof Reading;
      getters.push({ name: c.name, get: (r) => r[field] });
    } else if (!c.hasDefault && !c.nullable) {
      throw new Error(
        `Cannot build the rows the sink stores: readings.${c.name} has no default and no reading field ${
          camel(c.name)
        } fills it`,
      );
    }
  }
  return { names: getters.map((g) => g.name), values: (r) => getters.map((g) => g.get(r)) };
}

/** A validated reading, to see which fields a reading has. */
export function exampleReading(): Reading {
  const verdict = createValidator()(
    new TextEncoder().encode('{"customer_id":"CUST-001","timestamp":"2026-01-01T00:00:00Z","heart_rate":72}'),
  );
  if (!verdict.ok) throw new Error(`Cannot validate the example reading: ${JSON.stringify(verdict.reasons)}`);
  return verdict.reading;
}

/** The row of `readings` a valid message becomes, as one COPY text line. */
export function readingLine(columns: ReadingColumns, r: SampleReading): string {
  return columns.values(r).map(copyValue).join("\t") + "\n";
}

function deadLetterLine(
  topic: string,
  partition: number,
  offset: number,
  key: Uint8Array,
  timeMs: number,
  value: Uint8Array,
  reasons: Rejection[],
): string {
  const time = new Date(timeMs).toISOString();
  return `${copyText(topic)}\t${partition}\t${offset}\t${copyBytea(key)}\t${time}\t${
    copyBytea(value)
  }\t${value.byteLength}\t${reasons[0]?.code ?? "unknown"}\t${copyText(JSON.stringify(reasons))}\t${time}\n`;
}

/**
 * Simulates the workload's messages, validates each with the consumer's validator and encodes the
 * rows it must produce.
 *
 * @param workload what the producer will be asked to send
 * @param columns how rows of `readings` are filled (see {@link readingColumns})
 * @param chunkRows rows per COPY chunk
 * @param sampleRows how many valid readings to keep as objects
 * @param onReading called with every valid reading, in the order sent (the peer phase keeps its own rows)
 */
export function buildDataset(
  workload: Workload,
  columns: ReadingColumns,
  chunkRows: number,
  sampleRows: number,
  onReading?: (reading: SampleReading) => void,
): Dataset {
  const began = performance.now();
  const sim = new Simulator({
    seed: workload.seed,
    customers: workload.customers,
    rate: workload.rate,
    startMs: workload.startMs,
    anomalyRate: workload.anomalyRate,
    invalidRate: workload.invalidRate,
  });
  const validate = createValidator();
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: workload.partitions }, (_, i) => ({
    partitionId: i,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));
  const partitionOf = new Map<string, number>();
  const nextOffset = new Array<number>(workload.partitions).fill(0);
  const encoder = new TextEncoder();
  const readingChunks: Buffer[] = [], deadLetterChunks: Buffer[] = [];
  let readingLines: string[] = [], deadLetterLines: string[] = [];
  const sample: SampleReading[] = [];
  const payloadLines: string[] = [];
  const reasons: Record<string, number> = {};
  let readings = 0, deadLetters = 0, valueBytes = 0, validBytes = 0;

  for (let i = 0; i < workload.count; i++) {
    const m = sim.next();
    let partition = partitionOf.get(m.key);
    if (partition === undefined) {
      const args = { topic: workload.topic, partitionMetadata, message: { key: m.key, value: null } };
      partition = partitioner(args as unknown as PartitionerArgs);
      partitionOf.set(m.key, partition);
    }
    const offset = nextOffset[partition]!;
    nextOffset[partition] = offset + 1;
    const value = typeof m.value === "string" ? encoder.encode(m.value) : m.value;
    valueBytes += value.byteLength;
    if (typeof m.value === "string" && !m.value.includes("\n") && payloadLines.length < 10_000) {
      payloadLines.push(m.value);
    }
    const verdict = validate(value);
    if (verdict.ok) {
      readings++;
      validBytes += value.byteLength;
      const row = { ...verdict.reading, partition, offset };
      onReading?.(row);
      readingLines.push(readingLine(columns, row));
      if (sample.length < sampleRows) sample.push(row);
      if (readingLines.length === chunkRows) {
        readingChunks.push(Buffer.from(readingLines.join("")));
        readingLines = [];
      }
    } else {
      deadLetters++;
      const code = verdict.reasons[0]?.code ?? "unknown";
      reasons[code] = (reasons[code] ?? 0) + 1;
      const key = encoder.encode(m.key);
      deadLetterLines.push(deadLetterLine(workload.topic, partition, offset, key, m.timeMs, value, verdict.reasons));
      if (deadLetterLines.length === chunkRows) {
        deadLetterChunks.push(Buffer.from(deadLetterLines.join("")));
        deadLetterLines = [];
      }
    }
  }
  if (readingLines.length > 0) readingChunks.push(Buffer.from(readingLines.join("")));
  if (deadLetterLines.length > 0) deadLetterChunks.push(Buffer.from(deadLetterLines.join("")));
  return {
    readings,
    deadLetters,
    readingChunks,
    deadLetterChunks,
    sample,
    meanValueBytes: workload.count === 0 ? 0 : valueBytes / workload.count,
    meanValidValueBytes: readings === 0 ? 0 : validBytes / readings,
    payloadLines,
    reasons,
    buildMs: performance.now() - began,
  };
}
