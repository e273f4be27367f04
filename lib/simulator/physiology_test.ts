import assert from "node:assert/strict";
import fc from "fast-check";
import { HF_HZ, LF_HZ, Physiology } from "./physiology.ts";
import { drawProfile, RESTING_MEAN_BPM } from "./population.ts";
import { Random } from "./random.ts";
import { Simulator } from "./simulator.ts";

const DAY = Date.UTC(2026, 10, 2);
const HOUR = 3_600_000;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * Welch's periodogram of a series sampled every `intervalS`: Hann-windowed segments of 256
 * readings, half overlapping, after taking out a 31-reading moving average (slow drift, activity).
 */
function periodogram(xs: number[], intervalS: number): { hz: number; power: number }[] {
  const detrended = xs.map((x, i) => x - mean(xs.slice(Math.max(0, i - 15), i + 16)));
  const n = 256, out = Array.from({ length: n / 2 }, (_, k) => ({ hz: k / (n * intervalS), power: 0 }));
  let segments = 0;
  for (let start = 0; start + n <= detrended.length; start += n / 2, segments++) {
    const seg = detrended.slice(start, start + n).map((x, i) =>
      x * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)))
    );
    for (let k = 1; k < n / 2; k++) {
      let re = 0, im = 0;
      for (let i = 0; i < n; i++) {
        re += seg[i]! * Math.cos((2 * Math.PI * k * i) / n);
        im -= seg[i]! * Math.sin((2 * Math.PI * k * i) / n);
      }
      out[k]!.power += re * re + im * im;
    }
  }
  return out.map((p) => ({ hz: p.hz, power: p.power / segments }));
}

/** The frequency of the highest power within [from, to] Hz, and that power. */
function peak(spectrum: { hz: number; power: number }[], from: number, to: number) {
  return spectrum.filter((p) => p.hz >= from && p.hz <= to).reduce((a, b) => (b.power > a.power ? b : a));
}

/** Heart rates of one customer reading every `intervalS` from 10:00 UTC (awake), as the simulator sends them. */
function awakeSeries(seed: number, intervalS: number, n: number): number[] {
  const sim = new Simulator({
    seed,
    customers: 1,
    rate: 1 / intervalS,
    startMs: DAY + 10 * HOUR,
    anomalyRate: 0,
    invalidRate: 0,
  });
  return Array.from({ length: n }, () => {
    const t = sim.next().truth;
    return t.valid ? t.heartRate : NaN;
  });
}

Deno.test("Physiology shows the two spectral bands of ECGSYN, at 0.1 Hz and 0.25 Hz, in readings a second apart", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      const spectrum = periodogram(awakeSeries(seed, 1, 4_096), 1);
      const lf = peak(spectrum, 0.05, 0.16), hf = peak(spectrum, 0.19, 0.35);
      const trough = mean(spectrum.filter((p) => p.hz >= 0.15 && p.hz <= 0.2).map((p) => p.power));
      const high = mean(spectrum.filter((p) => p.hz >= 0.4).map((p) => p.power));
      assert.ok(Math.abs(lf.hz - LF_HZ) <= 0.02, `LF peak at ${lf.hz} Hz`);
      assert.ok(Math.abs(hf.hz - HF_HZ) <= 0.025, `HF peak at ${hf.hz} Hz`);
      assert.ok(lf.power > 2 * trough && hf.power > 2 * trough, `peaks ${lf.power}, ${hf.power}; trough ${trough}`);
      assert.ok(hf.power > 3 * high, `HF peak ${hf.power} over ${high} above 0.4 Hz`);
    }),
    { numRuns: 5 },
  );
});

Deno.test("Physiology leaves out a band above the Nyquist frequency of the reading interval", () => {
  // every 3 s, the Nyquist frequency is 0.167 Hz: the 0.1 Hz band shows, the 0.25 Hz band cannot
  const spectrum = periodogram(awakeSeries(5, 3, 3_072), 3);
  const lf = peak(spectrum, 0.05, 0.15);
  const rest = mean(spectrum.filter((p) => p.hz >= 0.13).map((p) => p.power));
  assert.ok(Math.abs(lf.hz - LF_HZ) <= 0.02, `LF peak at ${lf.hz} Hz`);
  assert.ok(lf.power > 3 * rest, `LF ${lf.power}, above it ${rest}`);
});

Deno.test("Physiology sleeps at the customer's hours, with the level several bpm below the day's", () => {
  const random = new Random(9, 1);
  const profile = { ...drawProfile(random), sleepAtH: 23, sleepHours: 8, nightDipBpm: 8 };
  const heart = new Physiology(profile, random, { seed: 9, customer: 1, intervalS: 60 });
  const night: number[] = [], day: number[] = [];
  for (let m = 0; m < 24 * 60; m++) {
    const t = DAY + m * 60_000, h = m / 60;
    const bpm = heart.level(t);
    if (h >= 1 && h < 5) (night.push(bpm), assert.equal(heart.state, "asleep", `${h} h`));
    if (h >= 12 && h < 18) (day.push(bpm), assert.notEqual(heart.state, "asleep", `${h} h`));
  }
  assert.ok(mean(day) - mean(night) >= 5, `day ${mean(day)}, night ${mean(night)}`);
});

Deno.test("a simulated day of a population holds the targets of issue 21, for any seed", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      // 100 customers, a reading a minute each, from midnight UTC (their time zone) for 24 h
      const customers = 100,
        sim = new Simulator({
          seed,
          customers,
          rate: customers / 60,
          startMs: DAY,
          anomalyRate: 0.002,
          invalidRate: 0.01,
        });
      const max = new Map(sim.profiles.map((p) => [p.customerId, p.profile.maxBpm]));
      const resting = new Map<string, number[]>();
      const day: number[] = [], night: number[] = [];
      for (let i = 0; i < customers * 24 * 60; i++) {
        const m = sim.next();
        if (!m.truth.valid) continue;
        const t = m.truth, h = (m.timeMs - DAY) / HOUR;
        assert.ok(t.heartRate <= max.get(t.customerId)!, `${t.heartRate} bpm over ${max.get(t.customerId)}`);
        if (t.episode !== null) continue;
        if (h >= 12 && h < 18) day.push(t.heartRate);
        if (h >= 1 && h < 5) night.push(t.heartRate);
        if (t.state !== "resting") continue;
        const list = resting.get(t.customerId);
        if (list === undefined) resting.set(t.customerId, [t.heartRate]);
        else list.push(t.heartRate);
      }
      const restingMean = mean([...resting.values()].map(mean));
      // 100 customers: the standard error of the population mean is 0.8 bpm
      assert.ok(Math.abs(restingMean - RESTING_MEAN_BPM) < 3.5, `resting ${restingMean}`);
      assert.ok(mean(day) - mean(night) >= 5, `day ${mean(day)}, night ${mean(night)}`);
    }),
    { numRuns: 6 },
  );
});
