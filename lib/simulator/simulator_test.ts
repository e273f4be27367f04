import assert from "node:assert/strict";
import fc from "fast-check";
import { createValidator } from "../domain/reading.ts";
import {
  customerId,
  type Episode,
  type FaultKind,
  FAULTS,
  isoMicros,
  type SimulatedMessage,
  Simulator,
  type SimulatorOptions,
} from "./simulator.ts";

const START = Date.UTC(2026, 0, 1);
const OPTIONS: SimulatorOptions = {
  seed: 1,
  customers: 5,
  rate: 10,
  startMs: START,
  anomalyRate: 0.002,
  invalidRate: 0.01,
};
const encoder = new TextEncoder();

function run(options: Partial<SimulatorOptions>, n: number): SimulatedMessage[] {
  const sim = new Simulator({ ...OPTIONS, ...options });
  return Array.from({ length: n }, () => sim.next());
}

function bytesOf(m: SimulatedMessage): Uint8Array {
  return typeof m.value === "string" ? encoder.encode(m.value) : m.value;
}

/**
 * Checks that the validator agrees with every message's ground truth, with the clock one minute
 * after the message's simulated time (so a future-timestamp fault is caught, a valid one is not).
 */
function assertValidatorAgrees(messages: SimulatedMessage[]): void {
  let now = 0;
  const validate = createValidator({}, () => now);
  for (const m of messages) {
    now = m.timeMs + 60_000;
    const verdict = validate(bytesOf(m));
    const where = `message ${m.seq} (${JSON.stringify(m.truth)})`;
    if (m.truth.valid) {
      if (!verdict.ok) assert.fail(`${where} was rejected: ${JSON.stringify(verdict.reasons)}`);
      assert.equal(verdict.reading.customerId, m.truth.customerId, where);
      assert.equal(verdict.reading.recordedAt, m.truth.recordedAt, where);
      assert.equal(verdict.reading.heartRate, m.truth.heartRate, where);
      assert.equal(verdict.reading.isAnomaly, m.truth.isAnomaly, where);
      assert.equal(verdict.reading.readingId, m.truth.readingId, where);
    } else {
      if (verdict.ok) assert.fail(`${where} was accepted`);
      assert.equal(verdict.reasons[0]!.code, m.truth.reason, `${where}: ${JSON.stringify(verdict.reasons)}`);
    }
  }
}

Deno.test("customerId() pads the customer number to three digits", () => {
  assert.equal(customerId(1), "CUST-001");
  assert.equal(customerId(42), "CUST-042");
  assert.equal(customerId(1234), "CUST-1234");
});

Deno.test("isoMicros() formats epoch microseconds as UTC ISO 8601 with six fractional digits", async (t) => {
  const rows: { micros: number; iso: string }[] = [
    { micros: 0, iso: "1970-01-01T00:00:00.000000Z" },
    { micros: 1_767_225_600_000_001, iso: "2026-01-01T00:00:00.000001Z" },
    { micros: 1_767_225_600_123_456, iso: "2026-01-01T00:00:00.123456Z" },
    { micros: 1_767_225_600_999_999, iso: "2026-01-01T00:00:00.999999Z" },
    { micros: 1_767_225_601_000_000, iso: "2026-01-01T00:00:01.000000Z" },
  ];
  for (const { micros, iso } of rows) {
    await t.step(`${micros} µs is ${iso}`, () => assert.equal(isoMicros(micros), iso));
  }
});

Deno.test("Simulator refuses a rate or customer count it cannot simulate", async (t) => {
  const rows: Partial<SimulatorOptions>[] = [
    { rate: 0 },
    { rate: -1 },
    { rate: NaN },
    { customers: 0 },
    { customers: 1.5 },
  ];
  for (const row of rows) {
    await t.step(JSON.stringify(row), () => {
      assert.throws(() => new Simulator({ ...OPTIONS, ...row }), RangeError);
    });
  }
});

Deno.test("Simulator gives the same messages, byte for byte, for the same options", () => {
  const options = { seed: 7, anomalyRate: 0.01, invalidRate: 0.05 };
  const a = run(options, 3_000), b = run(options, 3_000);
  assert.deepEqual(a.map((m) => m.key), b.map((m) => m.key));
  assert.deepEqual(a.map(bytesOf), b.map(bytesOf));
  assert.deepEqual(a.map((m) => m.truth), b.map((m) => m.truth));
  assert.deepEqual(a.map((m) => m.timeMs), b.map((m) => m.timeMs));
});

Deno.test("Simulator gives the same episodes for the same options", () => {
  const episodes = () => {
    const out: Episode[] = [];
    const sim = new Simulator({ ...OPTIONS, seed: 3, anomalyRate: 0.01, onEpisode: (e) => out.push(e) });
    for (let i = 0; i < 3_000; i++) sim.next();
    sim.finish();
    return out;
  };
  const first = episodes();
  assert.ok(first.length > 0);
  assert.deepEqual(first, episodes());
});

Deno.test("Simulator gives different messages for a different seed", () => {
  const a = run({ seed: 1 }, 200).map((m) => m.value);
  const b = run({ seed: 2 }, 200).map((m) => m.value);
  assert.notDeepEqual(a, b);
});

Deno.test("Simulator takes customers in turn and counts its messages", () => {
  const sim = new Simulator({ ...OPTIONS, customers: 3 });
  const keys = Array.from({ length: 7 }, () => sim.next().key);
  assert.deepEqual(keys, ["CUST-001", "CUST-002", "CUST-003", "CUST-001", "CUST-002", "CUST-003", "CUST-001"]);
  assert.equal(sim.count, 7);
});

Deno.test("Simulator times message i at start + i / rate, strictly increasing per customer", async (t) => {
  for (const rate of [1, 3, 10, 7_000, 0.5]) {
    await t.step(`at ${rate} readings/s`, () => {
      const sim = new Simulator({ ...OPTIONS, rate, invalidRate: 0.05 });
      const last = new Map<string, number>();
      for (let seq = 0; seq < 2_000; seq++) {
        const m = sim.next();
        assert.equal(m.seq, seq);
        assert.equal(m.timeMs, sim.timeOf(seq));
        assert.ok(Math.abs(m.timeMs - (START + (seq * 1000) / rate)) < 0.001, `seq ${seq}: ${m.timeMs}`);
        assert.equal(m.key, customerId((seq % OPTIONS.customers) + 1));
        assert.equal(m.truth.customerId, m.key);
        const previous = last.get(m.key);
        if (previous !== undefined) assert.ok(m.timeMs > previous);
        last.set(m.key, m.timeMs);
        if (m.truth.valid) {
          assert.equal(Date.parse(m.truth.recordedAt), Math.floor(m.timeMs));
          assert.match(m.truth.readingId, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
          assert.equal(
            parseInt(m.truth.readingId.slice(0, 8) + m.truth.readingId.slice(9, 13), 16),
            Math.floor(m.timeMs),
          );
        }
      }
    });
  }
});

Deno.test("Simulator keeps valid heart rates whole, within 20..300 bpm and at most the customer's age-predicted maximum", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const sim = new Simulator({ ...OPTIONS, seed, anomalyRate: 0.005, invalidRate: 0.01 });
    const max = new Map(sim.profiles.map((p) => [p.customerId, p.profile.maxBpm]));
    for (let i = 0; i < 5_000; i++) {
      const m = sim.next();
      if (!m.truth.valid) continue;
      const hr = m.truth.heartRate;
      assert.ok(Number.isInteger(hr), `${hr} is a whole number`);
      assert.ok(hr >= 20 && hr <= 300, `seed ${seed}: ${hr} bpm`);
      assert.ok(hr <= max.get(m.key)!, `seed ${seed}: ${hr} bpm over ${max.get(m.key)}`);
      assert.equal(m.truth.isAnomaly, hr < 60 || hr > 100);
    }
  }
});

Deno.test("Simulator injects faults at about invalidRate", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.constantFrom(0.01, 0.05, 0.1, 0.3, 0.9),
      (seed, invalidRate) => {
        const n = 2_000;
        const faults = run({ seed, invalidRate }, n).filter((m) => !m.truth.valid).length;
        const expected = n * invalidRate, sd = Math.sqrt(n * invalidRate * (1 - invalidRate));
        assert.ok(Math.abs(faults - expected) <= 6 * sd + 2, `${faults} faults, expected about ${expected}`);
      },
    ),
    { numRuns: 20 },
  );
});

Deno.test("Simulator injects no fault when invalidRate is 0 and only faults when it is 1", () => {
  assert.ok(run({ invalidRate: 0 }, 2_000).every((m) => m.truth.valid));
  assert.ok(run({ invalidRate: 1 }, 2_000).every((m) => !m.truth.valid));
});

Deno.test("Simulator injects every kind of fault, each with the reason code FAULTS gives it", () => {
  const seen = new Set<FaultKind>();
  for (const m of run({ invalidRate: 0.5 }, 3_000)) {
    if (m.truth.valid) continue;
    seen.add(m.truth.fault);
    assert.equal(m.truth.reason, FAULTS[m.truth.fault]);
  }
  assert.deepEqual([...seen].sort(), Object.keys(FAULTS).sort());
});

Deno.test("createValidator() agrees with the simulator's truth on every message", async (t) => {
  const rows: Partial<SimulatorOptions>[] = [
    { seed: 1, customers: 5, rate: 10, invalidRate: 0.2, anomalyRate: 0.01 },
    { seed: 2, customers: 1, rate: 1, invalidRate: 0.5, anomalyRate: 0.05 },
    { seed: 3, customers: 100, rate: 5_000, invalidRate: 1, anomalyRate: 0 },
    // a start on 29 February: a timestamp ten years later may fall on a day that does not exist
    { seed: 4, customers: 2, rate: 10, invalidRate: 1, startMs: Date.UTC(2028, 1, 29, 12) },
  ];
  for (const row of rows) {
    await t.step(JSON.stringify(row), () => assertValidatorAgrees(run(row, 3_000)));
  }
});

Deno.test("createValidator() agrees with the simulator's truth for any seed, customers, rate and start", () => {
  fc.assert(
    fc.property(
      fc.record({
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        customers: fc.integer({ min: 1, max: 50 }),
        rate: fc.double({ min: 0.01, max: 10_000, noNaN: true }),
        startMs: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
        anomalyRate: fc.double({ min: 0, max: 0.05, noNaN: true }),
        invalidRate: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      (options) => assertValidatorAgrees(run(options, 300)),
    ),
    { numRuns: 30 },
  );
});

Deno.test("Simulator reports each episode with readings on its side of the thresholds, matching truth.episode", () => {
  const episodes: Episode[] = [];
  const sim = new Simulator({
    ...OPTIONS,
    seed: 11,
    customers: 3,
    rate: 1,
    anomalyRate: 0.01,
    invalidRate: 0.05,
    onEpisode: (e) => episodes.push(e),
  });
  const messages = Array.from({ length: 6_000 }, () => sim.next());
  sim.finish();
  assert.ok(episodes.some((e) => e.kind === "bradycardia"), "a bradycardia episode happened");
  assert.ok(episodes.some((e) => e.kind === "tachycardia"), "a tachycardia episode happened");

  for (const e of episodes) {
    const where = JSON.stringify(e);
    assert.ok(e.startMs <= e.endMs, where);
    if (e.kind === "bradycardia") assert.ok(e.targetBpm >= 21 && e.targetBpm <= 50, where);
    else assert.ok(e.targetBpm >= 105 && e.targetBpm <= 207, where);
    const inside = messages.filter((m) => m.key === e.customerId && m.timeMs >= e.startMs && m.timeMs <= e.endMs);
    assert.equal(inside.length, e.readings, where);
    for (const m of inside) {
      if (!m.truth.valid) continue; // a fault replaced this reading
      assert.equal(m.truth.episode, e.kind, `message ${m.seq} in ${where}`);
      if (e.kind === "bradycardia") assert.ok(m.truth.heartRate < 60, `message ${m.seq}: ${m.truth.heartRate}`);
      else assert.ok(m.truth.heartRate > 100, `message ${m.seq}: ${m.truth.heartRate}`);
      assert.equal(m.truth.isAnomaly, true);
    }
  }
  // and every reading marked as part of an episode lies inside a reported episode of that kind
  for (const m of messages) {
    if (!m.truth.valid || m.truth.episode === null) continue;
    const kind = m.truth.episode;
    assert.ok(
      episodes.some((e) => e.customerId === m.key && e.kind === kind && m.timeMs >= e.startMs && m.timeMs <= e.endMs),
      `message ${m.seq} (${kind}) is in no reported episode`,
    );
  }
});

Deno.test("Simulator.finish() reports an episode that is still open", () => {
  const episodes: Episode[] = [];
  const sim = new Simulator({ ...OPTIONS, customers: 1, anomalyRate: 1, onEpisode: (e) => episodes.push(e) });
  for (let i = 0; i < 5; i++) sim.next(); // episodes last at least 20 readings
  assert.equal(episodes.length, 0);
  sim.finish();
  assert.equal(episodes.length, 1);
  assert.equal(episodes[0]!.readings, 5);
  assert.equal(episodes[0]!.startMs, START);
  assert.equal(episodes[0]!.endMs, sim.timeOf(4));
  sim.finish();
  assert.equal(episodes.length, 1, "a second finish() reports nothing new");
});

const TROUBLE = { dropoutRate: 0.01, artefactRate: 0.01, lateRate: 0.01, duplicateRate: 0.05, clockSkewMs: 120_000 };

Deno.test("Simulator gives the same stream for the same seed, sensor trouble and time zones included", () => {
  fc.assert(
    fc.property(
      fc.record({
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        customers: fc.integer({ min: 1, max: 30 }),
        rate: fc.double({ min: 0.01, max: 5_000, noNaN: true }),
        anomalyRate: fc.double({ min: 0, max: 0.05, noNaN: true }),
        invalidRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
        trouble: fc.boolean(),
        utcOffsetsMin: fc.array(fc.integer({ min: -720, max: 840 }), { minLength: 1, maxLength: 3 }),
      }),
      ({ trouble, ...options }) => {
        const o = { ...options, sensor: trouble ? TROUBLE : {} };
        const a = run(o, 1_000), b = run(o, 1_000);
        assert.deepEqual(a.map(bytesOf), b.map(bytesOf));
        assert.deepEqual(a.map((m) => m.truth), b.map((m) => m.truth));
      },
    ),
    { numRuns: 25 },
  );
});

Deno.test("createValidator() accepts every reading the sensor trouble leaves valid, artefacts included", () => {
  const messages = run({ seed: 21, invalidRate: 0.05, anomalyRate: 0.01, sensor: TROUBLE }, 20_000);
  let now = 0;
  const validate = createValidator({}, () => now);
  for (const m of messages) {
    now = m.timeMs + 60_000;
    const verdict = validate(bytesOf(m));
    assert.equal(verdict.ok, m.truth.valid, `message ${m.seq}: ${JSON.stringify(m.truth)}`);
  }
});

Deno.test("Simulator marks each kind of sensor trouble in the truth, at about its configured rate", async (t) => {
  const sim = new Simulator({ ...OPTIONS, seed: 4, customers: 4, invalidRate: 0, sensor: TROUBLE });
  const skews = new Map(sim.profiles.map((p) => [p.customerId, p.clockSkewMs]));
  const messages = Array.from({ length: 40_000 }, () => sim.next());
  const valid = messages.flatMap((m) => m.truth.valid ? [{ m, t: m.truth }] : []);
  const marked = (mark: string) => valid.filter(({ t }) => t.sensor === mark).length;
  const slots = messages.at(-1)!.timeMs; // every message is in one of the simulated reading slots
  const readings = Math.round((slots - START) / 100) + 1;
  await t.step("duplicates: about 5 % of readings delivered in time, each a copy of the reading before it", () => {
    const inTime = valid.length - marked("duplicate") - marked("late");
    assert.ok(Math.abs(marked("duplicate") / inTime - 0.05) < 0.01, `${marked("duplicate")} of ${inTime}`);
    for (const [i, { m, t: tr }] of valid.entries()) {
      if (tr.sensor === "duplicate") assert.equal(m.value, valid[i - 1]!.m.value);
    }
  });
  await t.step("dropouts: readings go missing, and the first after a gap is marked", () => {
    assert.ok(readings - messages.length + marked("duplicate") > 0.1 * readings, `${messages.length} of ${readings}`);
    assert.ok(marked("after_gap") > 0);
  });
  await t.step("late deliveries: older than a reading of the customer delivered before them", () => {
    assert.ok(marked("late") > 0.05 * valid.length, `${marked("late")} late`);
    const latest = new Map<string, number>();
    for (const { t: tr } of valid) {
      const at = Date.parse(tr.recordedAt);
      if (tr.sensor === "late") assert.ok(at < latest.get(tr.customerId)!, tr.recordedAt);
      latest.set(tr.customerId, Math.max(at, latest.get(tr.customerId) ?? -Infinity));
    }
  });
  await t.step("artefacts: spikes far from the customer's level, still valid readings", () => {
    assert.ok(marked("artefact") > 0.01 * valid.length, `${marked("artefact")} artefacts`);
    for (const { t: tr } of valid) if (tr.sensor === "artefact") assert.ok(tr.heartRate >= 20 && tr.heartRate <= 300);
  });
  await t.step("clock skew: each device's timestamps are off by its own fixed amount within ±2 min", () => {
    assert.ok([...skews.values()].every((s) => Math.abs(s) <= 120_000) && new Set(skews.values()).size === 4);
    for (const { m, t: tr } of valid) {
      if (tr.sensor === null) assert.equal(Date.parse(tr.recordedAt), Math.floor(m.timeMs + skews.get(tr.customerId)!));
    }
  });
});
