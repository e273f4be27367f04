import "./patches/preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { CompressionTypes } from "kafkajs";
import { zstdCodec } from "./zstd.ts";
import { Decoder, decodeRecordBatch, Record, RecordBatch } from "../../tests/support/kafkajs_protocol.ts";

Deno.test("kafkajs writes and reads zstd record batches through the registered codec", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 200 })), { minLength: 1, maxLength: 50 }),
      async (messages) => {
        const records = messages.map(([k, v], i) =>
          Record({ offsetDelta: i, timestampDelta: i, key: Buffer.from(k), value: Buffer.from(v) })
        );
        const batch = await RecordBatch({
          compression: CompressionTypes.ZSTD,
          firstOffset: 10n,
          firstTimestamp: 1_767_225_600_000,
          maxTimestamp: 1_767_225_600_000 + messages.length,
          lastOffsetDelta: messages.length - 1,
          records,
        });
        const decoded = await decodeRecordBatch(new Decoder(Buffer.from(batch.buffer)));
        assert.deepEqual(
          decoded.records.map((r) => [r.key?.toString(), r.value?.toString(), r.offset]),
          messages.map(([k, v], i) => [k, v, String(10 + i)]),
        );
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("the zstd codec's output is a standard zstd frame, smaller than gzip's on readings", async () => {
  const readings = Buffer.from(
    Array.from(
      { length: 2000 },
      (_, i) =>
        `{"customer_id":"CUST-${String(i % 1000).padStart(3, "0")}","timestamp":"2026-01-01T00:00:${
          String(i % 60).padStart(2, "0")
        }.${String(i * 7919 % 1e6).padStart(6, "0")}Z","heart_rate":${60 + i % 40},"is_anomaly":false}`,
    ).join(""),
  );
  const compressed = await zstdCodec.compress({ buffer: readings });
  assert.deepEqual([...compressed.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd], "the zstd frame magic number");
  assert.deepEqual(await zstdCodec.decompress(compressed), readings);
  const { gzipSync } = await import("node:zlib");
  assert.ok(compressed.length < gzipSync(readings).length, `${compressed.length} bytes`);
});
