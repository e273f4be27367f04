import "./preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import fc from "fast-check";
import { groupMessagesPerPartition } from "./grouping.ts";
import { install, notInstalled, originals, patchesEnabled, type PatchReport } from "./mod.ts";

/** The report of a process where every patch took. */
const ALL_INSTALLED: PatchReport = {
  encoder: "installed",
  grouping: "installed",
  record: "installed",
  decoder: "installed",
  send: "installed",
  coordinator: "installed",
};

Deno.test("install() put every patch in place before kafkajs loaded, and says so", async () => {
  await import("kafkajs");
  assert.deepEqual(install(), ALL_INSTALLED);
  const require = createRequire(import.meta.url);
  assert.equal(require("kafkajs/src/producer/groupMessagesPerPartition.js"), groupMessagesPerPartition);
  const record = require("kafkajs/src/protocol/recordBatch/record/v0/index.js");
  assert.notEqual(record, originals().recordEncoder);
  assert.match(String(record), /return original\(args\)/, "the direct encoder, kafkajs' own behind it");
  // kafkajs' produce request, loaded after the swap, writes records the direct way
  const written = record({ key: Buffer.from("k"), value: Buffer.from("v") });
  assert.equal(written.buffer, written.buf);
  assert.ok(written instanceof originals().encoder!.Encoder, "a record is an instance of kafkajs' Encoder");
});

Deno.test("groupMessagesPerPartition() groups as kafkajs' own does, calling the partitioner in the same order", () => {
  const original = originals().groupMessagesPerPartition;
  assert.ok(original !== undefined);
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
        assert.deepEqual(run(groupMessagesPerPartition), run(original));
      },
    ),
  );
});

Deno.test("patchesEnabled() reads on, off and unset, and names the variable for anything else", async (t) => {
  const cases: [string | undefined, boolean | RegExp][] = [
    [undefined, true],
    ["", true],
    ["on", true],
    ["off", false],
    ["OFF", /Invalid HEARTBEAT_KAFKAJS_PATCHES \(environment\): expected on or off, got "OFF"/],
    ["0", /expected on or off/],
  ];
  for (const [value, expected] of cases) {
    await t.step(String(value), () => {
      if (expected instanceof RegExp) assert.throws(() => patchesEnabled(value), expected);
      else assert.equal(patchesEnabled(value), expected);
    });
  }
});

Deno.test("notInstalled() names each patch that did not take, with its state", async (t) => {
  const cases: [PatchReport, string[]][] = [
    [ALL_INSTALLED, []],
    [
      { ...ALL_INSTALLED, grouping: "late", decoder: "late", send: "late" },
      ["grouping (late)", "decoder (late)", "send (late)"],
    ],
    [{ encoder: "off", grouping: "off", record: "off", decoder: "off", send: "installed", coordinator: "installed" }, [
      "encoder (off)",
      "grouping (off)",
      "record (off)",
      "decoder (off)",
    ]],
    [{ ...ALL_INSTALLED, encoder: "unknown", record: "failed" }, [
      "encoder (unknown)",
      "record (failed)",
    ]],
  ];
  for (const [report, expected] of cases) {
    await t.step(expected.join(", ") || "all installed", () => assert.deepEqual(notInstalled(report), expected));
  }
});

/** Runs a script with `deno eval` from the project root; returns its exit code and output. */
async function evalScript(script: string, env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("../../..", import.meta.url).pathname,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: new TextDecoder().decode(stdout).trim(), stderr: new TextDecoder().decode(stderr) };
}

const MOD = JSON.stringify(new URL("./mod.ts", import.meta.url).href);

Deno.test("install() says 'late' for the grouping, the decoder and the send loop when kafkajs was loaded before it; the record swap, due later, still takes", async () => {
  const run = await evalScript(
    `import "kafkajs"; const m = await import(${MOD}); console.log(JSON.stringify(m.install()));`,
  );
  assert.equal(run.code, 0, run.stderr);
  // kafkajs requires its produce request modules only when it first produces: the record swap still takes
  assert.deepEqual(JSON.parse(run.stdout), {
    encoder: "installed",
    grouping: "late",
    record: "installed",
    decoder: "late",
    send: "late",
    coordinator: "installed", // a prototype's method: in place whenever it is installed
  });
});

Deno.test("install() leaves kafkajs as it is and says 'unknown' when its sources are not the ones the patches know", async () => {
  const marks = {
    encoder: { sizeOfVarLong: "x", writeUVarInt: "x", writeVarLong: "x", writeBufferInternal: "x" },
    grouping: "x",
    record: "x",
    decoder: { record: "no such line", batch: "no such line" },
    send: "no such line",
    coordinator: "no such line",
  };
  const run = await evalScript(
    `const m = await import(${MOD}); const r = m.install({ marks: ${JSON.stringify(marks)} });
     const { createRequire } = await import("node:module");
     const g = createRequire(${MOD})("kafkajs/src/producer/groupMessagesPerPartition.js");
     console.log(JSON.stringify({ r, kafkajsOwn: String(g).includes("[...current, message]") }));`,
  );
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), {
    r: {
      encoder: "unknown",
      grouping: "unknown",
      record: "unknown",
      decoder: "unknown",
      send: "unknown",
      coordinator: "unknown",
    },
    kafkajsOwn: true,
  });
});
