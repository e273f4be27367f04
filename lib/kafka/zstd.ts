/**
 * Zstandard for kafkajs: kafkajs 2.2.4 knows the codec's number (`CompressionTypes.ZSTD`) but
 * ships no implementation, and leaves registering one to the application. This module registers
 * node:zlib's (a part of the Deno runtime: no package, nothing native to fetch) as a side effect:
 * the producer can send zstd requests (its default, `--compression`), and the consumer can read a
 * topic that any producer (Java, librdkafka) wrote with zstd, which plain kafkajs cannot.
 *
 * Why zstd for the producer: node:zlib's gzip at its default level spends about 6 ms per MB of
 * our readings on the producer's main thread, zstd about 1.5 ms, and zstd's output is half
 * gzip's (docs/performance.md). Kafka brokers take zstd since 2.1 (produce v7, fetch v10).
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { CompressionCodecs, CompressionTypes } from "kafkajs";

const compress = promisify(zlib.zstdCompress) as (bytes: Uint8Array) => Promise<Buffer>;
const decompress = promisify(zlib.zstdDecompress) as (bytes: Uint8Array) => Promise<Buffer>;

/** The codec kafkajs calls: `compress` gets its encoder, `decompress` a record batch's records. */
export const zstdCodec = {
  compress: (encoder: { buffer: Buffer }): Promise<Buffer> => compress(encoder.buffer),
  decompress: (buffer: Buffer): Promise<Buffer> => decompress(buffer),
};

(CompressionCodecs as Record<number, () => typeof zstdCodec>)[CompressionTypes.ZSTD] = () => zstdCodec;
