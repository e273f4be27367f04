import assert from "node:assert/strict";
import type { EpisodeKind } from "./heart_rate.ts";
import {
  type Alert,
  type AlertEvent,
  type Beat,
  CustomerDetector,
  type CustomerHistory,
  DEFAULT_DETECTOR,
  type EpisodeStore,
  EpisodeTracker,
  LONG_BASELINE_READINGS,
  type TrackedReading,
} from "./episodes.ts";
import { classify } from "./heart_rate.ts";
import { afterLearning, scoreEpisodes } from "../../tests/support/scoring.ts";
import { type Episode, Simulator } from "../simulator/simulator.ts";

const T0 = Date.UTC(2026, 10, 25, 12);
const beat = (i: number, hr: number): Beat => ({
  atMs: T0 + i * 1000,
  at: new Date(T0 + i * 1000).toISOString(),
  heartRate: hr,
});

function feedAll(d: CustomerDetector, rates: number[], from = 0): AlertEvent[] {
  return rates.flatMap((hr, i) => d.feed(beat(from + i, hr)));
}

/** A detector that has seen a customer at `normal` bpm for 200 s, so that it has their baselines. */
function warmed(normal = 70): CustomerDetector {
  const d = new CustomerDetector("C");
  feedAll(d, Array(200).fill(normal), -200);
  return d;
}

Deno.test("classify() applies the documented thresholds at and beside each boundary", async (t) => {
  const table: [number, string][] = [
    [39.9, "critical_low"],
    [40, "bradycardia"],
    [59.9, "bradycardia"],
    [60, "normal"],
    [100, "normal"],
    [100.1, "tachycardia"],
    [150, "tachycardia"],
    [150.1, "critical_high"],
  ];
  for (const [hr, expected] of table) {
    await t.step(`${hr} bpm → ${expected}`, () => assert.equal(classify(hr), expected));
  }
});

Deno.test("CustomerDetector opens an episode after minReadings abnormal readings spanning minDuration", () => {
  const d = warmed();
  const events = feedAll(d, [70, 120, 125, 130, 128, 131, 70]);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.type, "open");
  const a = events[0]!.alert;
  assert.equal(a.kind, "tachycardia");
  assert.equal(a.startedAtMs, T0 + 1000);
  assert.equal(a.openedAtMs, T0 + 5000);
  assert.equal(a.peak, 131);
  assert.equal(a.severity, "warning");
});

Deno.test("CustomerDetector does not open on fewer readings or a shorter span than configured", async (t) => {
  await t.step(
    "four readings",
    () => assert.deepEqual(feedAll(warmed(), [120, 120, 120, 120, 80, 80, 80]), []),
  );
  await t.step("five readings within 3 s", () => {
    const d = warmed();
    const events = [120, 121, 122, 123, 124].flatMap((hr, i) =>
      d.feed({ atMs: T0 + i * 500, at: new Date(T0 + i * 500).toISOString(), heartRate: hr })
    );
    assert.deepEqual(events, []);
  });
});

Deno.test("CustomerDetector tolerates single noisy readings inside a run and an episode", () => {
  const d = warmed();
  // a normal blip in the run, then the episode; a blip inside the episode; then three normals end it
  const events = feedAll(d, [45, 47, 65, 44, 46, 43, 70, 42, 41, 75, 76, 77]);
  assert.deepEqual(events.map((e) => e.type), ["open", "close"]);
  const closed = events[1]!.alert;
  assert.equal(closed.kind, "bradycardia");
  assert.equal(closed.startedAtMs, T0);
  assert.equal(closed.endedAt, beat(8, 41).at);
  assert.equal(closed.peak, 41);
  assert.equal(closed.readings, 7);
});

Deno.test("CustomerDetector marks an episode critical when its peak crosses a critical threshold", () => {
  const events = feedAll(warmed(), [70, 45, 44, 42, 39, 41, 60, 60, 60]);
  assert.equal(events[0]!.alert.severity, "critical");
  assert.equal(events[1]!.alert.severity, "critical");
});

Deno.test("CustomerDetector ignores a redelivered (older or equal) reading", () => {
  const d = warmed();
  feedAll(d, [70, 120, 121, 122, 123, 124]);
  assert.deepEqual(feedAll(d, [70, 120, 121, 122, 123, 124]), []);
  assert.equal(d.open?.readings, 5);
});

Deno.test("CustomerDetector takes a spike to the other side during an episode for an artefact", () => {
  const events = feedAll(warmed(), [70, 120, 121, 122, 123, 124, 35, 34, 36, 125, 126, 75, 76, 77]);
  assert.deepEqual(events.map((e) => `${e.type}:${e.alert.kind}`), ["open:tachycardia", "close:tachycardia"]);
  assert.equal(events[1]!.alert.readings, 7);
});

Deno.test("CustomerDetector judges readings against the customer's own baseline", async (t) => {
  const rows: { name: string; normal: number; rates: number[]; opens: string[] }[] = [
    { name: "a sleeping athlete at 44 bpm is normal for them", normal: 44, rates: [42, 45, 41, 44, 43, 40], opens: [] },
    {
      name: "a fall from 72 to 45 bpm is bradycardia",
      normal: 72,
      rates: [45, 45, 45, 45, 45],
      opens: ["bradycardia"],
    },
    {
      name: "a fall from 44 to 28 bpm is bradycardia for the athlete",
      normal: 44,
      rates: [28, 28, 28, 28, 28],
      opens: ["bradycardia"],
    },
    { name: "a fall of 8 bpm below 60 is not", normal: 62, rates: [54, 54, 54, 54, 54, 54], opens: [] },
    {
      name: "a gradual climb to 140 bpm (exercise) is not tachycardia",
      normal: 75,
      rates: [...Array.from({ length: 70 }, (_, i) => 75 + i), 140, 140, 140],
      opens: [],
    },
    {
      name: "a jump from 75 to 140 bpm is tachycardia",
      normal: 75,
      rates: [140, 140, 140, 140, 140],
      opens: ["tachycardia"],
    },
    {
      name: "spikes of three readings never open one",
      normal: 70,
      rates: [180, 181, 180, 70, 70, 70, 35, 34, 70],
      opens: [],
    },
    {
      name: "after a long episode, the return to the customer's normal is no episode",
      normal: 55,
      rates: [...Array(60).fill(150), ...Array(20).fill(55)],
      opens: ["tachycardia"],
    },
  ];
  for (const { name, normal, rates, opens } of rows) {
    await t.step(name, () => {
      const events = feedAll(warmed(normal), rates).filter((e) => e.type === "open");
      assert.deepEqual(events.map((e) => e.alert.kind), opens);
    });
  }
});

Deno.test("CustomerDetector only trains on a customer's first readings, even on an episode there (unless critical)", () => {
  const d = new CustomerDetector("C");
  // a tachycardia from the customer's fourth reading: nothing to judge it against yet
  const events = feedAll(d, [58, 61, 59, ...Array(30).fill(130), ...Array(300).fill(58)]);
  assert.deepEqual(events, [], "no alert, and the return to 58 bpm is no bradycardia");
  // the same at a critical 160 bpm: alerted on, and kept out of the baselines
  const critical = new CustomerDetector("C");
  const opened = feedAll(critical, [58, 61, 59, ...Array(30).fill(160), ...Array(300).fill(58)]);
  assert.deepEqual(opened.map((e) => [e.type, e.alert.kind]), [["open", "tachycardia"], ["close", "tachycardia"]]);
  assert.deepEqual(feedAll(d, [130, 131, 130, 132, 131], 333).map((e) => e.type), ["open"]);
});

/** An in-memory EpisodeStore over stored readings and alerts, like the repository's queries. */
class MemoryStore implements EpisodeStore {
  readings: TrackedReading[] = [];
  alerts = new Map<string, Alert>();
  upsert(alerts: Alert[]) {
    for (const a of alerts) this.alerts.set(`${a.customerId}|${a.kind}|${a.startedAt}`, a);
  }
  loadHistory(customers: { customerId: string; before: string }[], windowReadings: number, windowMs: number) {
    const out = new Map<string, CustomerHistory>();
    for (const c of customers) {
      const before = Date.parse(c.before);
      const open = [...this.alerts.values()].find((a) =>
        a.customerId === c.customerId && a.startedAtMs < before &&
        (a.closedAt === null || Date.parse(a.closedAt) >= before)
      ) ?? null;
      const mine = this.readings.filter((r) => r.customerId === c.customerId && r.recordedAtMs < before)
        .sort((a, b) => a.recordedAtMs - b.recordedAtMs);
      // with an open alert: every reading since it started and the baseline's readings before it
      const from = open === null ? mine.length : mine.findIndex((r) => r.recordedAtMs >= open.startedAtMs);
      const kept = open !== null
        ? mine.filter((_, i) => i >= from - LONG_BASELINE_READINGS)
        : mine.filter((r, i) => i >= mine.length - windowReadings || r.recordedAtMs >= before - windowMs);
      out.set(c.customerId, {
        open,
        beats: kept.map((r) => ({ at: r.recordedAt, atMs: r.recordedAtMs, heartRate: r.heartRate })),
      });
    }
    return Promise.resolve(out);
  }
}

function simulate(seed: number, count: number) {
  const truth: Episode[] = [];
  const sim = new Simulator({
    seed,
    customers: 8,
    rate: 8,
    startMs: T0,
    anomalyRate: 0.01,
    invalidRate: 0,
    onEpisode: (e) => truth.push(e),
  });
  const readings: TrackedReading[] = [];
  for (let i = 0; i < count; i++) {
    const m = sim.next();
    if (m.truth.valid) {
      readings.push({
        customerId: m.truth.customerId,
        recordedAt: m.truth.recordedAt,
        recordedAtMs: Date.parse(m.truth.recordedAt),
        heartRate: m.truth.heartRate,
      });
    }
  }
  sim.finish();
  return { truth, readings };
}

async function track(readings: TrackedReading[], store: MemoryStore, batches: number[], restartEvery = Infinity) {
  let tracker = new EpisodeTracker(store);
  let at = 0, n = 0;
  for (const size of batches) {
    const batch = readings.slice(at, at + size);
    if (batch.length === 0) break;
    if (++n % restartEvery === 0) tracker = new EpisodeTracker(store); // a restart: state from the store
    const { alerts } = await tracker.process(batch);
    store.readings.push(...batch);
    store.upsert(alerts);
    at += size;
  }
  return [...store.alerts.values()].sort((a, b) =>
    a.startedAtMs - b.startedAtMs || a.customerId.localeCompare(b.customerId)
  );
}

Deno.test("EpisodeTracker gives the same alerts whatever the batching, across restarts and redeliveries", async () => {
  const { readings } = simulate(3, 20_000);
  const reference = await track(readings, new MemoryStore(), Array(1).fill(readings.length));
  assert.ok(reference.length > 20, `${reference.length} alerts`);
  const small = await track(readings, new MemoryStore(), Array(4000).fill(7), 5);
  assert.deepEqual(small, reference);
  // a redelivery: every batch is committed (readings and alerts), then delivered again to a fresh
  // tracker (a crash before the offset commit), whose state comes from the store
  const store = new MemoryStore();
  let tracker = new EpisodeTracker(store);
  for (let i = 0; i < readings.length; i += 333) {
    const batch = readings.slice(i, i + 333);
    store.upsert((await tracker.process(batch)).alerts);
    store.readings.push(...batch);
    tracker = new EpisodeTracker(store);
    store.upsert((await tracker.process(batch)).alerts);
  }
  assert.deepEqual(
    [...store.alerts.values()].sort((a, b) =>
      a.startedAtMs - b.startedAtMs || a.customerId.localeCompare(b.customerId)
    ),
    reference,
  );
});

Deno.test("detection scores ≥ 0.99 precision and recall per kind against the simulator's truth, with a median delay ≤ min duration + 2 s", async () => {
  for (const seed of [1, 2, 3]) {
    const { truth, readings } = simulate(seed, 40_000);
    const alerts = await track(readings, new MemoryStore(), Array(200).fill(250));
    // an episode cut short by the end of the run with fewer readings than needed is not detectable,
    // nor one that began during a customer's first readings, which only train the baselines
    const learnt = T0 + (LONG_BASELINE_READINGS + 1) * 1000; // a reading a second
    const scored = afterLearning(truth.filter((e) => e.readings >= DEFAULT_DETECTOR.minReadings), alerts, learnt);
    const score = scoreEpisodes(scored.truth, scored.alerts);
    for (const kind of ["bradycardia", "tachycardia"] as const) {
      const k = score.kinds[kind];
      assert.ok(k.truth > 10, `seed ${seed}: ${k.truth} ${kind} episodes injected`);
      assert.ok(k.precision >= 0.99, `seed ${seed} ${kind} precision ${k.precision}`);
      assert.ok(k.recall >= 0.99, `seed ${seed} ${kind} recall ${k.recall}`);
    }
    assert.ok(score.medianDelayMs <= DEFAULT_DETECTOR.minDurationMs + 2_000, `median delay ${score.medianDelayMs} ms`);
  }
});

Deno.test("CustomerDetector detects an episode whose readings all arrive late, once", async (t) => {
  const normal = Array(40).fill(70);
  await t.step("an episode held back and delivered after newer normal readings opens and closes an alert", () => {
    const d = warmed();
    feedAll(d, normal.slice(0, 10), 0); // 0..9 in time
    feedAll(d, normal.slice(0, 20), 20); // 20..39 arrive first: readings 10..19 were held back
    const late = feedAll(d, [120, 125, 126, 124, 125, 126, 75, 74, 73, 72], 10);
    assert.deepEqual(late.map((e) => e.type), ["open", "close"]);
    assert.equal(late[0]!.alert.startedAtMs, T0 + 10_000);
  });
  await t.step("the late start of an episode already alerted on opens no second alert", () => {
    const d = warmed();
    feedAll(d, normal.slice(0, 10), 0);
    const live = feedAll(d, [130, 131, 130, 132, 131, 130, 70, 70, 70], 16); // the episode's end, in time
    assert.deepEqual(live.map((e) => e.type), ["open", "close"]);
    assert.deepEqual(feedAll(d, [121, 126, 129, 130, 131, 130], 10), []); // its start, late
  });
  await t.step("a redelivery of readings already judged opens nothing", () => {
    const d = warmed();
    const first = feedAll(d, [70, 120, 121, 122, 123, 124, 70, 70, 70, 70]);
    assert.deepEqual(first.map((e) => e.type), ["open", "close"]);
    assert.deepEqual(feedAll(d, [70, 120, 121, 122, 123, 124, 70, 70, 70]), []);
  });
});

Deno.test("CustomerDetector alerts on critically high readings whatever the baseline, even while it learns; a lone spike opens nothing", async (t) => {
  const cases: [string, () => AlertEvent[], EpisodeKind | null][] = [
    ["a stream that begins at 165 bpm", () => feedAll(new CustomerDetector("C"), Array(10).fill(165)), "tachycardia"],
    [
      "a stream that begins at 35 bpm: the low side waits for a baseline",
      () => feedAll(new CustomerDetector("C"), Array(10).fill(35)),
      null,
    ],
    [
      "a baseline that climbed to 140 bpm, then 160",
      () => {
        const d = new CustomerDetector("C");
        feedAll(d, Array(200).fill(140), -200);
        return feedAll(d, Array(10).fill(160));
      },
      "tachycardia",
    ],
    ["a lone 220 bpm spike among 70s", () => feedAll(warmed(), [70, 70, 220, 70, 70, 70, 70]), null],
    [
      "130 bpm while learning: not critical, not judged yet",
      () => feedAll(new CustomerDetector("C"), Array(10).fill(130)),
      null,
    ],
  ];
  for (const [name, run, kind] of cases) {
    await t.step(name, () => {
      const opened = run().filter((e) => e.type === "open");
      assert.deepEqual(opened.map((e) => e.alert.kind), kind === null ? [] : [kind]);
    });
  }
});
