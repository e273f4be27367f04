import "./patches/preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { cachingKeyPartitioner, toBuffer } from "./publisher.ts";

/** Partition metadata of `n` partitions, all led by broker 1. */
function partitions(n: number): PartitionMetadata[] {
  return Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: 1,
    partitionErrorCode: 0,
    replicas: [1],
    isr: [1],
  }));
}

Deno.test("the caching partitioner picks kafkajs' default partition for every key, also after partitions grow", () => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ minLength: 1, maxLength: 24 }), { minLength: 1, maxLength: 20 }),
    fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }),
    (keyBytes, counts) => {
      const cached = cachingKeyPartitioner();
      const reference = Partitioners.DefaultPartitioner();
      const keys = keyBytes.map((b) => Buffer.from(b));
      for (const count of counts) {
        const partitionMetadata = partitions(count);
        // each key twice: the second answer comes from the cache
        for (const key of [...keys, ...keys]) {
          const args = { topic: "t", partitionMetadata, message: { key, value: null } };
          assert.equal(cached(args), reference(args));
        }
      }
    },
  ));
});

Deno.test("the caching partitioner keeps an explicit partition", () => {
  const cached = cachingKeyPartitioner();
  const message = { key: Buffer.from("CUST-001"), value: null, partition: 5 };
  assert.equal(cached({ topic: "t", partitionMetadata: partitions(6), message }), 5);
});

Deno.test("toBuffer() gives each message its UTF-8 bytes, and later messages never overwrite earlier ones", () => {
  const utf8 = new TextEncoder();
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.string({ unit: "grapheme", maxLength: 50 }),
          fc.constantFrom("x".repeat(70_000), "é".repeat(30_000)), // past the shared block: encoded alone
          fc.uint8Array({ maxLength: 20 }),
        ),
        { maxLength: 400 },
      ),
      (values) => {
        const buffers = values.map((v) => toBuffer(v));
        values.forEach((v, i) => {
          assert.ok(Buffer.isBuffer(buffers[i]));
          assert.deepEqual(new Uint8Array(buffers[i]!), typeof v === "string" ? utf8.encode(v) : v);
        });
      },
    ),
    { numRuns: 200 },
  );
});
