import assert from "node:assert/strict";
import { sampleValue, snapshot, statusLine, sumSamples } from "./status.ts";

const CONSUMER = `# HELP heartbeat_consumer_readings_stored_total Valid readings inserted
# TYPE heartbeat_consumer_readings_stored_total counter
heartbeat_consumer_messages_consumed_total 410
heartbeat_consumer_readings_stored_total 400
heartbeat_consumer_rejected_total{reason="not_json"} 6
heartbeat_consumer_rejected_total{reason="heart_rate_out_of_range"} 4
heartbeat_consumer_lag_messages{partition="0"} 2
heartbeat_consumer_lag_messages{partition="1"} 5
heartbeat_consumer_alert_events_total{event="opened"} 3
heartbeat_consumer_alert_events_total{event="closed"} 1
heartbeat_consumer_ready 1
`;
const PRODUCER = "heartbeat_producer_messages_acknowledged_total 420\nheartbeat_producer_ready 1\n";

Deno.test("sumSamples adds every label set of a metric and skips comments and unparsable values", () => {
  const sums = sumSamples(CONSUMER + "broken_metric NaN\nnot a sample\n");
  assert.equal(sums.get("heartbeat_consumer_rejected_total"), 10);
  assert.equal(sums.get("heartbeat_consumer_lag_messages"), 7);
  assert.equal(sums.has("broken_metric"), false);
  assert.equal(sampleValue(CONSUMER, 'heartbeat_consumer_alert_events_total{event="closed"}'), 1);
  assert.equal(sampleValue(CONSUMER, "heartbeat_consumer_absent"), undefined);
});

Deno.test("statusLine reports rates since the last snapshot, totals, lag, alerts and readiness", async (t) => {
  const before = snapshot(0, CONSUMER.replace(" 400", " 200").replace(" 410", " 205"), PRODUCER.replace("420", "220"));
  const cases: [string, ReturnType<typeof snapshot>, ReturnType<typeof snapshot> | undefined, string][] = [
    [
      "both programs answer",
      snapshot(10_000, CONSUMER, PRODUCER),
      before,
      "sent 20.0/s  stored 20.0/s (400)  rejected 0.0/s (10)  lag 7  alerts 3 opened, 1 closed  consumer ready",
    ],
    [
      "no earlier snapshot: rates unknown",
      snapshot(10_000, CONSUMER, PRODUCER),
      undefined,
      "sent ?/s  stored ?/s (400)  rejected ?/s (10)  lag 7  alerts 3 opened, 1 closed  consumer ready",
    ],
    [
      "the consumer not ready",
      snapshot(10_000, CONSUMER.replace("ready 1", "ready 0"), PRODUCER),
      before,
      "sent 20.0/s  stored 20.0/s (400)  rejected 0.0/s (10)  lag 7  alerts 3 opened, 1 closed  consumer NOT ready (see its lines above)",
    ],
    [
      "the consumer silent",
      snapshot(10_000, undefined, PRODUCER),
      before,
      "sent 20.0/s  consumer not answering on its metrics port",
    ],
    [
      "the producer silent",
      snapshot(10_000, CONSUMER, undefined),
      before,
      "sent ?/s  stored 20.0/s (400)  rejected 0.0/s (10)  lag 7  alerts 3 opened, 1 closed  consumer ready",
    ],
  ];
  for (const [name, now, prev, want] of cases) await t.step(name, () => assert.equal(statusLine(now, prev), want));
});
