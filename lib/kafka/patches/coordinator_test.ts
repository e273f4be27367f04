import assert from "node:assert/strict";
import { followingCoordinator, type OffsetManagerLike } from "./coordinator.ts";

/** An offset manager whose commits fail with `failures` in turn, then succeed on the coordinator "new". */
type Failure = { type?: string; name?: string; code?: string };

function manager(failures: Failure[]) {
  const lookups: string[] = [];
  const commitsTo: unknown[] = [];
  const m: OffsetManagerLike = {
    groupId: "g",
    coordinator: "old",
    cluster: {
      findGroupCoordinator: ({ groupId }) => (lookups.push(groupId), Promise.resolve("new")),
    },
    commitOffsets: () => Promise.resolve(),
  };
  const original = function (this: OffsetManagerLike): Promise<void> {
    commitsTo.push(this.coordinator);
    const failure = failures.shift();
    return failure === undefined ? Promise.resolve() : Promise.reject(Object.assign(new Error("x"), failure));
  };
  m.commitOffsets = followingCoordinator(original);
  return { m, lookups, commitsTo };
}

Deno.test("a commit answered 'not the coordinator' looks the coordinator up again; the retry goes to the new one", async (t) => {
  const cases: [string, Failure, boolean][] = [
    ["NOT_COORDINATOR_FOR_GROUP", { type: "NOT_COORDINATOR_FOR_GROUP" }, true],
    ["GROUP_COORDINATOR_NOT_AVAILABLE", { type: "GROUP_COORDINATOR_NOT_AVAILABLE" }, true],
    ["REBALANCE_IN_PROGRESS: the coordinator is right", { type: "REBALANCE_IN_PROGRESS" }, false],
    ["a connection refused", { name: "KafkaJSConnectionError", code: "ECONNREFUSED" }, true],
    ["a request timeout", { name: "KafkaJSRequestTimeoutError" }, true],
    ["a metadata error", { name: "KafkaJSProtocolError", type: "UNKNOWN_TOPIC_OR_PARTITION" }, false],
  ];
  for (const [name, failure, looksAgain] of cases) {
    await t.step(name, async () => {
      const { m, lookups, commitsTo } = manager([failure]);
      await assert.rejects(m.commitOffsets(), (e: Error & { type?: string }) => e.type === failure.type);
      await m.commitOffsets(); // kafkajs' retry
      assert.deepEqual(lookups, looksAgain ? ["g"] : []);
      assert.deepEqual(commitsTo, ["old", looksAgain ? "new" : "old"]);
    });
  }
});
