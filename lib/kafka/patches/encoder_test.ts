import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
// kafkajs' own files, without the preload: this test compares the patches with them
import EncoderModule from "kafkajs/src/protocol/encoder.js";
import RecordModule from "kafkajs/src/protocol/recordBatch/record/v0/index.js";
import RecordBatchModule from "kafkajs/src/protocol/recordBatch/v0/index.js";
import {
  directRecordEncoder,
  type EncodedRecord,
  type EncoderClass,
  type EncoderMethods,
  EncoderPatch,
  type RecordArgs,
} from "./encoder.ts";

const patch = new EncoderPatch(EncoderModule as unknown as EncoderClass);
const Encoder = patch.Encoder;
const originalEncoder = patch.original;
const installFastEncoder = (marks?: Record<keyof EncoderMethods, string>) => patch.install(marks);
const restoreOriginalEncoder = () => patch.restore();

/** kafkajs' record encoder: `{ offsetDelta, timestampDelta, key, value, headers }` → Encoder. */
const Record = RecordModule as unknown as (record: Record<string, unknown>) => { buffer: Uint8Array };
/** kafkajs' record batch encoder (compresses with gzip when asked). */
const { RecordBatch } = RecordBatchModule as unknown as {
  RecordBatch: (batch: Record<string, unknown>) => Promise<{ buffer: Uint8Array }>;
};

/** The bytes of a record batch of `records` (kafkajs' batch encoder; compression 0 none, 1 gzip). */
async function batchBytes(records: unknown[], compression: number): Promise<Buffer> {
  const batch = await RecordBatch({
    compression,
    records,
    firstTimestamp: 1_767_225_600_000,
    maxTimestamp: 1_767_225_600_000,
    firstSequence: 7,
    lastOffsetDelta: records.length - 1,
  });
  return Buffer.from(batch.buffer);
}

/** Runs `write` on a fresh encoder and returns its bytes. */
function bytesOf(write: (e: InstanceType<typeof Encoder>) => void, initialSize?: number): Uint8Array {
  const e = new Encoder(initialSize);
  write(e);
  return e.buf.slice(0, e.offset);
}

/** Encodes with kafkajs' own methods, then with the fast ones, and returns both. */
async function bothWays<T>(encode: () => T | Promise<T>): Promise<[T, T]> {
  restoreOriginalEncoder();
  try {
    const before = await encode();
    assert.equal(installFastEncoder(), true);
    return [before, await encode()];
  } finally {
    restoreOriginalEncoder();
  }
}

const safeInteger = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.maxSafeInteger(),
  fc.constantFrom(0, -1, 1, 63, 64, -64, -65, 127, 128, 2 ** 31, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER),
);

/** A kafkajs message as the publisher sends it: Buffer key and value, or strings, or null. */
const message = fc.record({
  key: fc.oneof(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)), fc.string(), fc.constant(null)),
  value: fc.oneof(fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)), fc.string({ maxLength: 300 })),
  timestampDelta: fc.integer({ min: -100_000, max: 10 ** 12 }),
  headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 2 }),
});

/** A check that the fast `method` writes the bytes kafkajs' own does, for every value of `values`. */
function sameBytes(method: "writeUVarInt" | "writeVarLong", values: fc.Arbitrary<number>): () => void {
  return () =>
    fc.assert(fc.property(values, (v) => {
      const fast = bytesOf((e) => installFastEncoder() && e[method](v));
      restoreOriginalEncoder();
      assert.deepEqual(fast, bytesOf((e) => originalEncoder[method].call(e, v)));
    }));
}

Deno.test("fast encoder methods write the same bytes as kafkajs' own", async (t) => {
  const cases: { name: string; check: () => void }[] = [
    {
      name: "writeUVarInt of any 32-bit value",
      check: sameBytes("writeUVarInt", fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 })),
    },
    { name: "writeVarLong of safe integers", check: sameBytes("writeVarLong", safeInteger) },
    {
      name: "sizeOfVarLong of safe integers",
      check: () =>
        fc.assert(fc.property(safeInteger, (v) => {
          installFastEncoder();
          const fast = Encoder.sizeOfVarLong(v);
          restoreOriginalEncoder();
          assert.equal(fast, originalEncoder.sizeOfVarLong.call(Encoder, v));
          assert.equal(fast, bytesOf((e) => originalEncoder.writeVarLong.call(e, v)).length);
        })),
    },
    {
      name: "writeBufferInternal across buffer growth",
      check: () =>
        fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 700 }), { maxLength: 6 }), (parts) => {
          const fast = bytesOf((e) => {
            installFastEncoder();
            for (const p of parts) e.writeBufferInternal(Buffer.from(p));
          }, 1);
          restoreOriginalEncoder();
          const slow = bytesOf((e) => {
            for (const p of parts) originalEncoder.writeBufferInternal.call(e, Buffer.from(p));
          }, 1);
          assert.deepEqual(fast, slow);
          assert.deepEqual(new Uint8Array(fast), new Uint8Array(parts.flatMap((p) => [...p])));
        })),
    },
  ];
  try {
    for (const c of cases) await t.step(c.name, c.check);
  } finally {
    restoreOriginalEncoder();
  }
});

Deno.test("records and gzip record batches encode byte-for-byte as with kafkajs' encoder", async (t) => {
  const cases = [
    { name: "records", compression: null },
    { name: "uncompressed batch", compression: 0 },
    { name: "gzip batch", compression: 1 },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 30 }), async (messages) => {
          const encode = async () => {
            const records = messages.map((m, i) => Record({ ...m, offsetDelta: i }));
            if (c.compression === null) return Buffer.concat(records.map((r) => r.buffer));
            return await batchBytes(records, c.compression);
          };
          const [slow, fast] = await bothWays(encode);
          assert.ok(slow.length > 0);
          assert.deepEqual(fast, slow);
        }),
        { numRuns: 60 },
      );
    });
  }
});

Deno.test("EncoderPatch.install() is idempotent and patches the very Encoder class kafkajs' records use", () => {
  // were the class this module patches a second copy, the byte comparisons above would pass vacuously
  assert.ok(Record({ key: null, value: Buffer.from("x") }) instanceof Encoder);
  try {
    assert.equal(installFastEncoder(), true);
    assert.equal(installFastEncoder(), true);
    assert.notEqual(Encoder.prototype.writeUVarInt, originalEncoder.writeUVarInt);
    assert.notEqual(Encoder.prototype.writeVarLong, originalEncoder.writeVarLong);
    assert.notEqual(Encoder.prototype.writeBufferInternal, originalEncoder.writeBufferInternal);
    assert.notEqual(Encoder.sizeOfVarLong, originalEncoder.sizeOfVarLong);
  } finally {
    restoreOriginalEncoder();
  }
  assert.equal(Encoder.prototype.writeUVarInt, originalEncoder.writeUVarInt);
});

Deno.test("EncoderPatch.install() refuses, changing nothing, when one of kafkajs' methods is not the one it knows", () => {
  restoreOriginalEncoder();
  const marks = {
    sizeOfVarLong: "Encoder.encodeZigZag64(value)",
    writeUVarInt: "this.writeBufferInternal(Buffer.from(byteArray))",
    writeVarLong: "Encoder.encodeZigZag64(value)",
    writeBufferInternal: "a line kafkajs 2.2.4 does not have",
  };
  try {
    assert.equal(installFastEncoder(marks), false);
    assert.equal(Encoder.sizeOfVarLong, originalEncoder.sizeOfVarLong);
    assert.equal(Encoder.prototype.writeUVarInt, originalEncoder.writeUVarInt);
    assert.equal(Encoder.prototype.writeVarLong, originalEncoder.writeVarLong);
    assert.equal(Encoder.prototype.writeBufferInternal, originalEncoder.writeBufferInternal);
    // the marks it does know are all there: the same call without the odd one installs
    assert.equal(installFastEncoder({ ...marks, writeBufferInternal: "buffer.copy(this.buf, this.offset, 0)" }), true);
    assert.notEqual(Encoder.prototype.writeBufferInternal, originalEncoder.writeBufferInternal);
  } finally {
    restoreOriginalEncoder();
  }
});

Deno.test("the direct record encoder writes kafkajs' bytes, alone and in uncompressed and gzip batches", async (t) => {
  const kafkajsRecord = Record as unknown as (args: RecordArgs) => EncodedRecord;
  const direct = directRecordEncoder(kafkajsRecord, Encoder);
  // the publisher's messages (Buffers, no headers) take the direct path; the rest is handed to kafkajs
  const args = fc.record({
    key: fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), fc.constant(null), fc.string()),
    value: fc.oneof(fc.uint8Array({ maxLength: 1_000 }).map((b) => Buffer.from(b)), fc.constant(null), fc.string()),
    timestampDelta: fc.oneof(
      fc.integer({ min: -100_000, max: 10 ** 12 }),
      fc.constantFrom(0, -1, 63, 64, -65, 2 ** 52 - 1, -(2 ** 52), 2 ** 52, 2 ** 53 + 2),
    ),
    headers: fc.oneof(fc.constant(undefined), fc.constant({}), fc.dictionary(fc.string({ maxLength: 4 }), fc.string())),
  }, { requiredKeys: ["key", "value"] });
  await t.step("records", () => {
    fc.assert(
      fc.property(args, fc.oneof(fc.nat(200), fc.constantFrom(63, 64, 8191, 8192, 2 ** 31 - 1)), (a, offsetDelta) => {
        const mine = direct({ ...a, offsetDelta }).buffer;
        assert.deepEqual(Buffer.from(mine), Buffer.from(kafkajsRecord({ ...a, offsetDelta }).buffer));
      }),
      { numRuns: 500 },
    );
  });
  for (const compression of [0, 1]) {
    await t.step(compression === 0 ? "uncompressed batch" : "gzip batch", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(args, { minLength: 1, maxLength: 30 }), async (messages) => {
          const batch = async (encode: (args: RecordArgs) => EncodedRecord) => {
            return await batchBytes(messages.map((m, i) => encode({ ...m, offsetDelta: i })), compression);
          };
          assert.deepEqual(await batch(direct), await batch(kafkajsRecord));
        }),
        { numRuns: 60 },
      );
    });
  }
  await t.step("a record the direct path wrote is an Encoder, as kafkajs' batch checks", () => {
    const mine = direct({ key: Buffer.from("k"), value: Buffer.from("v") });
    assert.ok(mine instanceof Encoder);
    assert.equal(mine.buffer, mine.buf, "its bytes are not copied again");
  });
});
