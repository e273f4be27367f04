import assert from "node:assert/strict";
import { topicReplication } from "./client.ts";

Deno.test("new topics get 3 replicas and min.insync.replicas=2 from three brokers on, the broker default below", async (t) => {
  const none = { replicationFactor: -1, configEntries: [] };
  const replicated = { replicationFactor: 3, configEntries: [{ name: "min.insync.replicas", value: "2" }] };
  const cases: [brokers: number, want: typeof none | typeof replicated][] = [
    [0, none],
    [1, none],
    [2, none],
    [3, replicated],
    [5, replicated],
  ];
  for (const [brokers, want] of cases) {
    await t.step(`${brokers} broker(s)`, () => assert.deepEqual(topicReplication(brokers), want));
  }
});
