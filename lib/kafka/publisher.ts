/**
 * The publisher: batches messages into produce requests on an idempotent kafkajs producer
 * (acks=all), compresses them, keeps exactly one request in flight (kafkajs' idempotence keeps
 * sequence numbers safe only then), and applies back-pressure when the broker is slower than the
 * caller. {@link Publisher.flush} waits until everything accepted is acknowledged.
 *
 * Requires `--allow-net=<brokers>`.
 *
 * @module
 */
import "./patches/preload.ts"; // before kafkajs: see the module
import { Buffer } from "node:buffer";
import { CompressionTypes, type ICustomPartitioner, type Message, Partitioners, type Producer } from "kafkajs";
import type { Kafka } from "./client.ts";
import type { Logger } from "../ops/log.ts";

/** Options of a {@link Publisher}. */
export interface PublisherOptions {
  /** kafkajs client. */
  kafka: Kafka;
  /** Topic to write. */
  topic: string;
  /** Most messages in one produce request. */
  batchSize: number;
  /** Longest a message waits for its batch to fill, ms. */
  lingerMs: number;
  /** Compression of produce requests. */
  compression: "zstd" | "gzip" | "none";
  /** Logger. */
  log: Logger;
  /** Called after each acknowledged request with its message count. */
  onAck?: (messages: number) => void;
  /** Called when a request fails for good (after kafkajs' retries) with its message count. */
  onFail?: (messages: number, error: unknown) => void;
}

/**
 * Most bytes of one produce request, counted as {@link requestBytes}: below the broker's default
 * `message.max.bytes` (1,048,588), which a partition's record batch must not exceed once
 * compressed, so that a request to a one-partition topic is never refused as too large, even
 * uncompressed. A request is cut at this or at `batchSize` messages, whichever comes first; our
 * readings (~180 bytes) make about 5,000 a request.
 */
export const MAX_REQUEST_BYTES = 1_000_000;

/** kafkajs' codec of each compression setting (zstd's implementation: zstd.ts). */
const CODECS = { zstd: CompressionTypes.ZSTD, gzip: CompressionTypes.GZIP, none: CompressionTypes.None } as const;

/** A queued message: key and value as Buffers. */
type QueuedMessage = Message & { key: Buffer; value: Buffer };

/** A message's share of a request: its key and value, plus 16 bytes of record framing (varints, attributes). */
function requestBytes(message: QueuedMessage): number {
  return message.key.length + message.value.length + 16;
}

/** Sends messages in batches; see the module documentation. */
export class Publisher {
  readonly #o: PublisherOptions;
  readonly #producer: Producer;
  #queue: QueuedMessage[] = [];
  /** {@link requestBytes} of the queued messages. */
  #queuedBytes = 0;
  #inFlight: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failure: unknown = null;
  #acked = 0;
  /** Encoded keys: a simulation has few customers, each key is sent many times. */
  readonly #keys = new Map<string, Buffer>();

  /** @param options see {@link PublisherOptions} */
  constructor(options: PublisherOptions) {
    this.#o = options;
    this.#producer = options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // the Java client's murmur2 partitioning: the same key lands on the same partition as with
      // any Java/librdkafka producer
      createPartitioner: cachingKeyPartitioner,
      // retry for as long as it takes (a broker restart): giving up could lose accepted messages;
      // a stop request bounds the wait instead
      retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: Number.MAX_SAFE_INTEGER },
    });
  }

  /** Messages acknowledged by the broker so far. */
  get acknowledged(): number {
    return this.#acked;
  }

  /** Messages accepted but not yet acknowledged. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Connects the producer (and gets its producer id for idempotence). */
  async connect(): Promise<void> {
    await this.#producer.connect();
  }

  /**
   * Queues one message. Resolves at once unless the queue is full (more than two batches
   * waiting), in which case it waits for the request in flight: back-pressure.
   *
   * @throws the error of an earlier request that failed for good
   */
  async send(key: string, value: string | Uint8Array): Promise<void> {
    if (this.#failure !== null) throw this.#failure;
    const message = { key: this.#key(key), value: toBuffer(value) };
    this.#queue.push(message);
    this.#queuedBytes += requestBytes(message);
    if (this.#full()) this.#pump();
    else if (this.#timer === undefined && this.#o.lingerMs >= 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump(true);
      }, this.#o.lingerMs);
    }
    while (
      (this.#queue.length >= 2 * this.#o.batchSize || this.#queuedBytes >= 2 * MAX_REQUEST_BYTES) &&
      this.#inFlight !== null
    ) {
      await this.#inFlight;
      if (this.#failure !== null) throw this.#failure;
    }
  }

  /** Sends everything queued and waits until the broker acknowledged it. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#inFlight !== null) {
      this.#pump(true);
      if (this.#inFlight !== null) await this.#inFlight;
      if (this.#failure !== null) throw this.#failure;
    }
  }

  /** Flushes, then disconnects the producer. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      await this.#producer.disconnect();
    }
  }

  #key(key: string): Buffer {
    let bytes = this.#keys.get(key);
    if (bytes === undefined) {
      bytes = toBuffer(key);
      if (this.#keys.size < 100_000) this.#keys.set(key, bytes);
    }
    return bytes;
  }

  /** Whether the queue holds a whole request: `batchSize` messages or {@link MAX_REQUEST_BYTES}. */
  #full(): boolean {
    return this.#queue.length >= this.#o.batchSize || this.#queuedBytes >= MAX_REQUEST_BYTES;
  }

  #pump(due = false): void {
    if (this.#inFlight !== null || this.#failure !== null) return;
    if (this.#queue.length === 0 || (!due && !this.#full())) return;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    // the first message always goes, however large; then as many as fit both bounds
    let count = 0, bytes = 0;
    const limit = Math.min(this.#o.batchSize, this.#queue.length);
    while (count < limit) {
      const next = requestBytes(this.#queue[count]!);
      if (count > 0 && bytes + next > MAX_REQUEST_BYTES) break;
      bytes += next;
      count++;
    }
    this.#queuedBytes -= bytes;
    const messages = this.#queue.splice(0, count);
    this.#inFlight = this.#producer.send({
      topic: this.#o.topic,
      acks: -1,
      compression: CODECS[this.#o.compression],
      messages,
    }).then(
      () => {
        this.#acked += messages.length;
        this.#o.onAck?.(messages.length);
      },
      (error) => {
        this.#failure = error;
        this.#o.onFail?.(messages.length, error);
        this.#o.log.error("produce request failed after retries", { error, messages: messages.length });
      },
    ).finally(() => {
      this.#inFlight = null;
      if (this.#full()) this.#pump();
      else if (this.#queue.length > 0 && this.#timer === undefined) this.#pump(true);
    });
  }
}

/**
 * kafkajs' default partitioner (the Java client's murmur2 of the key, modulo the partition count),
 * remembering each key object's partition: the publisher sends the same few key Buffers again and
 * again, and kafkajs' murmur2 runs on BigInt-backed longs. Same partitions as the default one.
 */
export const cachingKeyPartitioner: ICustomPartitioner = () => {
  const partitioner = Partitioners.DefaultPartitioner();
  let cache = new WeakMap<object, number>();
  let partitionCount = -1;
  return (args) => {
    const key = args.message.key;
    if (args.message.partition != null || typeof key !== "object" || key === null) return partitioner(args);
    if (args.partitionMetadata.length !== partitionCount) {
      // partitions were added: every key moves
      partitionCount = args.partitionMetadata.length;
      cache = new WeakMap();
    }
    let partition = cache.get(key);
    if (partition === undefined) cache.set(key, partition = partitioner(args));
    return partition;
  };
};

const utf8 = new TextEncoder();

/** Bytes of the block that messages are encoded into, one after another. */
const SLAB_BYTES = 256 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/**
 * A message's bytes as a Buffer without copying them again: kafkajs writes Buffers with one copy,
 * strings with `Buffer.byteLength` and `Buffer#write`, which cost more than the encoding itself
 * under Deno. Strings are encoded into a shared block (`encodeInto`: three times as fast as
 * `encode` per message here), a view of which each message keeps; a full block is left to the
 * messages that use it and a new one started, never overwritten.
 */
export function toBuffer(value: string | Uint8Array): Buffer {
  if (typeof value !== "string") return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const most = value.length * 3; // UTF-8 bytes per UTF-16 unit, at most
  if (most > SLAB_BYTES / 4) {
    const bytes = utf8.encode(value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  if (slabUsed + most > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const start = slabUsed;
  slabUsed += utf8.encodeInto(value, slab.subarray(start)).written;
  return Buffer.from(slab.buffer, start, slabUsed - start);
}
