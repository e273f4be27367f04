import "./patches/preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import type { Alert, AlertEvent } from "../domain/episodes.ts";
import { AlertPublisher } from "./alert_events.ts";
import type { Kafka } from "./client.ts";

const alert: Alert = {
  customerId: "CUST-001",
  kind: "tachycardia",
  startedAt: "2026-11-25T12:00:00Z",
  openedAt: "2026-11-25T12:00:05Z",
  lastAt: "2026-11-25T12:00:05Z",
  endedAt: null,
  closedAt: null,
  peak: 130,
  readings: 5,
  severity: "warning",
} as unknown as Alert;
const event = { type: "open", alert } as AlertEvent;

/** A Kafka whose producer's sends take `ms` each (the first fails when `failFirst`), counting how many overlap. */
function fakeKafka(ms: number, failFirst = false) {
  const seen = { sends: 0, running: 0, most: 0 };
  const producer = {
    send: async () => {
      const n = seen.sends++;
      seen.running++;
      seen.most = Math.max(seen.most, seen.running);
      await new Promise((r) => setTimeout(r, ms));
      seen.running--;
      if (failFirst && n === 0) throw new Error("first send failed");
    },
  };
  return { kafka: { producer: () => producer } as unknown as Kafka, seen };
}

Deno.test("AlertPublisher sends one batch of events at a time, whoever calls it, and a failed send does not stop the next", async (t) => {
  await t.step("five writers at once: never two sends in flight", async () => {
    const { kafka, seen } = fakeKafka(10);
    const publisher = new AlertPublisher(kafka, "alerts");
    await Promise.all(Array.from({ length: 5 }, () => publisher.publish([event])));
    assert.deepEqual([seen.sends, seen.most], [5, 1]);
  });
  await t.step("the first send fails: its caller gets the error, the second is sent", async () => {
    const { kafka, seen } = fakeKafka(5, true);
    const publisher = new AlertPublisher(kafka, "alerts");
    const [first, second] = await Promise.allSettled([publisher.publish([event]), publisher.publish([event])]);
    assert.equal(first.status, "rejected");
    assert.equal(second.status, "fulfilled");
    assert.equal(seen.sends, 2);
  });
  await t.step("no events: nothing sent", async () => {
    const { kafka, seen } = fakeKafka(1);
    await new AlertPublisher(kafka, "alerts").publish([]);
    assert.equal(seen.sends, 0);
  });
});
