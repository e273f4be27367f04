import "./patches/preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { Partitioners, type PartitionMetadata } from "kafkajs";
import { cachingKeyPartitioner, type Publisher, publishSimulation } from "./publisher.ts";
import { Simulator, type SimulatorOptions } from "../simulator/simulator.ts";

const OPTIONS: SimulatorOptions = {
  seed: 7,
  customers: 5,
  rate: 1_000,
  startMs: Date.UTC(2026, 0, 1), // in the past: nothing waits
  anomalyRate: 0.01,
  invalidRate: 0.05,
};

/** Records what publishSimulation hands to the publisher (the pure loop, no Kafka). */
function recordingPublisher() {
  const sent: { key: string; value: string | Uint8Array }[] = [];
  let closed = false;
  const publisher = {
    send: (key: string, value: string | Uint8Array) => {
      sent.push({ key, value });
      return Promise.resolve();
    },
    close: () => {
      closed = true;
      return Promise.resolve();
    },
  } as unknown as Publisher;
  return { publisher, sent, closed: () => closed };
}

async function run(include?: (m: { key: string }) => boolean) {
  const p = recordingPublisher();
  const count = await publishSimulation({
    simulator: new Simulator(OPTIONS),
    publisher: p.publisher,
    done: (seq) => seq >= 500,
    signal: new AbortController().signal,
    ...(include === undefined ? {} : { include }),
  });
  return { count, sent: p.sent, closed: p.closed() };
}

Deno.test("publishSimulation with `include` sends exactly the accepted messages of the unfiltered run, in order", async (t) => {
  const all = await run();
  assert.equal(all.count, 500);
  assert.equal(all.sent.length, 500);
  assert.ok(all.closed);
  const cases: [string, (m: { key: string }) => boolean, boolean][] = [
    ["one customer", (m) => m.key === "CUST-002", true],
    ["all but one customer", (m) => m.key !== "CUST-002", true],
    ["none", () => false, false],
  ];
  for (const [name, include, sendsSome] of cases) {
    await t.step(name, async () => {
      const some = await run(include);
      const expected = all.sent.filter((m) => include(m));
      assert.equal(expected.length > 0 && expected.length < 500, sendsSome);
      assert.deepEqual(some.sent, expected);
      assert.equal(some.count, expected.length);
      assert.ok(some.closed);
    });
  }
});

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
