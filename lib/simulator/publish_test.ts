import assert from "node:assert/strict";
import { type MessageSink, publishSimulation } from "./publish.ts";
import { Simulator, type SimulatorOptions } from "./simulator.ts";

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
  const publisher: MessageSink = {
    send: (key: string, value: string | Uint8Array) => {
      sent.push({ key, value });
      return Promise.resolve();
    },
    close: () => {
      closed = true;
      return Promise.resolve();
    },
  };
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
