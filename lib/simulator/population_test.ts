import assert from "node:assert/strict";
import fc from "fast-check";
import {
  drawProfile,
  RESTING_MAX_BPM,
  RESTING_MEAN_BPM,
  RESTING_MIN_BPM,
  RESTING_SD_BPM,
  tanakaMaxBpm,
  WeeklyShift,
} from "./population.ts";
import { Random } from "./random.ts";

const WEEK_MS = 7 * 86_400_000;
const meanSd = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, sd: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
};

Deno.test("tanakaMaxBpm() is 208 − 0.7 × age", async (t) => {
  for (const [age, max] of [[20, 194], [40, 180], [65, 162.5], [90, 145]] as const) {
    await t.step(`${age} years → ${max} bpm`, () => assert.equal(tanakaMaxBpm(age), max));
  }
});

Deno.test("drawProfile() gives a population with the resting rate of Quer et al. 2020, for any seed", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      const profiles = Array.from({ length: 2_000 }, (_, i) => drawProfile(new Random(seed, i + 1)));
      const { mean, sd } = meanSd(profiles.map((p) => p.restingBpm));
      // standard error of the mean 0.17 bpm, of the SD about 0.12 bpm: 6 of each
      assert.ok(Math.abs(mean - RESTING_MEAN_BPM) < 1.0, `mean ${mean}`);
      assert.ok(Math.abs(sd - RESTING_SD_BPM) < 0.75, `SD ${sd}`);
      for (const p of profiles) {
        assert.ok(p.restingBpm >= RESTING_MIN_BPM && p.restingBpm <= RESTING_MAX_BPM, `${p.restingBpm} bpm`);
        assert.ok(Number.isInteger(p.age) && p.age >= 18 && p.age <= 90, `age ${p.age}`);
        assert.equal(p.maxBpm, tanakaMaxBpm(p.age));
        assert.ok(p.nightDipBpm >= 4 && p.nightDipBpm <= 14, `night dip ${p.nightDipBpm}`);
        assert.ok(p.sleepHours >= 6 && p.sleepHours <= 9, `sleep ${p.sleepHours} h`);
      }
    }),
    { numRuns: 15 },
  );
});

Deno.test("WeeklyShift moves about a fifth of customers' weekly means 10 bpm or more apart over two years", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
      const n = 600;
      let wide = 0;
      for (let c = 1; c <= n; c++) {
        const shift = new WeeklyShift(drawProfile(new Random(seed, c)), seed, c);
        const means: number[] = [];
        for (let week = 0; week < 104; week++) {
          let sum = 0;
          for (let h = 0; h < 168; h += 6) sum += shift.at(Date.UTC(2025, 0, 6) + week * WEEK_MS + h * 3_600_000);
          means.push(sum / 28);
        }
        if (Math.max(...means) - Math.min(...means) >= 10) wide++;
      }
      // about 0.2; the standard error over 600 customers is 0.016
      assert.ok(wide / n > 0.13 && wide / n < 0.27, `${wide} of ${n}`);
    }),
    { numRuns: 5 },
  );
});

Deno.test("WeeklyShift never jumps: the level moves by a small fraction of a bpm per hour", () => {
  const shift = new WeeklyShift(drawProfile(new Random(3, 1)), 3, 1);
  let previous = shift.at(Date.UTC(2026, 0, 1));
  for (let h = 1; h < 24 * 60; h++) {
    const now = shift.at(Date.UTC(2026, 0, 1) + h * 3_600_000);
    assert.ok(Math.abs(now - previous) < 0.3, `hour ${h}: ${previous} → ${now}`);
    previous = now;
  }
});
