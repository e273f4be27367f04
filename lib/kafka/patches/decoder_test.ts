import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
// kafkajs' own files, without the preload: this test compares the patches with them
import DecoderModule from "kafkajs/src/protocol/decoder.js";
import RecordModule from "kafkajs/src/protocol/recordBatch/record/v0/index.js";
import RecordDecoderModule from "kafkajs/src/protocol/recordBatch/record/v0/decoder.js";
import BatchModule from "kafkajs/src/consumer/batch.js";
import FilterAbortedModule from "kafkajs/src/consumer/filterAbortedMessages.js";
import {
  type BatchClass,
  type DecoderLike,
  type FilterAborted,
  numberBatch,
  numberRecordDecoder,
  type RecordBatchContext,
  type RecordDecoder,
} from "./decoder.ts";

const Decoder = DecoderModule as unknown as new (buffer: Uint8Array) => DecoderLike;
const encodeRecord = RecordModule as unknown as (record: Record<string, unknown>) => { buffer: Uint8Array };
const original = RecordDecoderModule as unknown as RecordDecoder;
const fast = numberRecordDecoder(original);
const OriginalBatch = BatchModule as unknown as BatchClass;
const FastBatch = numberBatch(OriginalBatch, FilterAbortedModule as unknown as FilterAborted);

/** Decodes one encoded record (length-prefixed, as in a record batch) with `decode`; the decoder's offset after it too. */
function decodeWith(decode: RecordDecoder, encoded: Uint8Array, context: RecordBatchContext) {
  const outer = new Decoder(Buffer.from(encoded)) as DecoderLike;
  const inner = new Decoder(outer.readVarIntBytes()!);
  const record = decode(inner, context);
  return { record, offsetAfter: inner.offset };
}

const bytes = fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { nil: null });
const int64Text = fc.oneof(
  fc.integer({ min: -1, max: 2 ** 40 }).map(String),
  fc.bigInt({ min: 2n ** 53n - 50n, max: 2n ** 63n - 1n }).map(String), // past the number path: kafkajs decodes
);

Deno.test("numberRecordDecoder() gives what kafkajs' record decoder gives, for any record and batch", () => {
  fc.assert(
    fc.property(
      fc.record({
        offsetDelta: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        timestampDelta: fc.oneof(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), fc.constant(0)),
        key: bytes,
        value: bytes,
        headers: fc.oneof(
          fc.constant({}),
          fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
        ),
      }),
      fc.record({
        firstOffset: int64Text,
        firstTimestamp: int64Text,
        magicByte: fc.constant(2),
        isControlBatch: fc.boolean(),
        timestampType: fc.constantFrom(0, 1),
        maxTimestamp: int64Text,
      }),
      (record, context) => {
        const encoded = encodeRecord(record).buffer;
        assert.deepEqual(decodeWith(fast, encoded, context), decodeWith(original, encoded, context));
      },
    ),
    { numRuns: 2_000 },
  );
});

Deno.test("numberRecordDecoder() reads many records of one batch context in a row, as the batch decoder calls it", () => {
  const context = { firstOffset: "1000", firstTimestamp: "1767225600000", magicByte: 2, timestampType: 0 };
  const records = Array.from({ length: 50 }, (_, i) =>
    encodeRecord({
      offsetDelta: i,
      timestampDelta: i * 7,
      key: Buffer.from(`CUST-${i}`),
      value: Buffer.from(`{"i":${i}}`),
    }).buffer);
  const offsets = records.map((r) => decodeWith(fast, r, context).record.offset);
  assert.deepEqual(offsets, records.map((r) => decodeWith(original, r, context).record.offset));
  assert.equal(offsets[49], "1049");
});

Deno.test("numberBatch() builds the batch kafkajs' Batch builds: same fields, methods, and instanceof", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ offset: fc.integer({ min: 0, max: 200 }), control: fc.boolean() }), { maxLength: 30 }),
      fc.integer({ min: 0, max: 220 }),
      fc.integer({ min: 0, max: 400 }),
      fc.boolean(),
      (spec, fetched, highWatermark, big) => {
        const base = big ? 2n ** 60n : 0n; // past 2^53: kafkajs' own Batch is used
        const messages = [...spec].sort((a, b) => a.offset - b.offset).map((m) => ({
          offset: String(base + BigInt(m.offset)),
          isControlRecord: m.control,
          key: Buffer.from("k"),
          batchContext: { producerId: "1", inTransaction: false },
        }));
        const data = { partition: 3, highWatermark: String(base + BigInt(highWatermark)), messages };
        const fetchedOffset = String(base + BigInt(fetched));
        type B = Record<string, unknown> & { lastOffset(): string; firstOffset(): string | null; offsetLag(): string };
        const a = new FastBatch("t", fetchedOffset, data) as B;
        const b = new OriginalBatch("t", fetchedOffset, data) as B;
        assert.ok(a instanceof OriginalBatch);
        assert.deepEqual({ ...a }, { ...b });
        assert.equal(a.lastOffset(), b.lastOffset());
        assert.equal(a.firstOffset(), b.firstOffset());
        assert.equal(a.offsetLag(), b.offsetLag());
      },
    ),
    { numRuns: 1_000 },
  );
});
