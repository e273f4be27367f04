import "./preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import fc from "fast-check";
import {
  groupingPatch,
  groupMessagesPerPartition,
  originalGroupMessagesPerPartition,
  originalRecordEncoder,
  recordPatch,
} from "./preload.ts";

Deno.test("groupMessagesPerPartition() groups as kafkajs' own does, calling the partitioner in the same order", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 8 }),
      fc.array(fc.record({ key: fc.string({ maxLength: 3 }), pick: fc.nat() }), { maxLength: 300 }),
      (partitions, messages) => {
        const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0 }));
        const run = (group: typeof groupMessagesPerPartition) => {
          const calls: string[] = [];
          const result = group({
            topic: "t",
            partitionMetadata,
            messages,
            partitioner: ({ topic, message }) => {
              calls.push(`${topic}/${message.key}`);
              return message.pick % partitions;
            },
          });
          return { result, calls };
        };
        assert.deepEqual(run(groupMessagesPerPartition), run(originalGroupMessagesPerPartition));
      },
    ),
  );
});

Deno.test("kafkajs loads the linear grouping and the direct record encoder when this module is imported first", async () => {
  await import("kafkajs");
  assert.equal(groupingPatch, "installed");
  assert.equal(recordPatch, "installed");
  const require = createRequire(import.meta.url);
  assert.equal(require("kafkajs/src/producer/groupMessagesPerPartition.js"), groupMessagesPerPartition);
  const record = require("kafkajs/src/protocol/recordBatch/record/v0/index.js");
  assert.notEqual(record, originalRecordEncoder);
  assert.match(String(record), /return original\(args\)/, "the direct encoder, kafkajs' own behind it");
  // kafkajs' produce request, loaded after the swap, writes records the direct way
  const written = record({ key: Buffer.from("k"), value: Buffer.from("v") });
  assert.equal(written.buffer, written.buf);
});

Deno.test("groupingPatch says 'late' when kafkajs was loaded before it; the record swap, due later, still takes", async () => {
  const script = `import "kafkajs"; const m = await import(${
    JSON.stringify(new URL("./preload.ts", import.meta.url).href)
  }); console.log(m.groupingPatch, m.recordPatch);`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("../../..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  // kafkajs requires its produce request modules only when it first produces: the record swap still takes
  assert.equal(new TextDecoder().decode(stdout).trim(), "late installed");
});
