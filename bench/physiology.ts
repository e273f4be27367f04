#!/usr/bin/env -S deno run
/**
 * The population and daily statistics of a `--dry-run`, read from stdin, checked against the
 * literature the simulator follows (lib/simulator/population.ts, physiology.ts):
 *
 * ```sh
 * deno task producer --dry-run --customers 1000 --rate 16.666667 --duration 24h \
 *   --start 2026-11-01T00:00:00Z --seed 1 | deno task bench:physiology --customers 1000 --seed 1
 * ```
 *
 * Profiles (age, resting rate, age-predicted maximum, time zone) are rebuilt from the same
 * `--seed`, `--customers` and `--time-zones` (they depend on nothing else). Reports the resting rate drawn per customer and the
 * one measured from its readings (awake, at rest, outside injected episodes), the mean level from
 * 12:00 to 18:00 and from 01:00 to 05:00 local time, and the readings above the customer's
 * age-predicted maximum; exits 1 when a target of issue 21 is missed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parse } from "../lib/config/options.ts";
import { Simulator } from "../lib/simulator/simulator.ts";
import { RESTING_MEAN_BPM, RESTING_SD_BPM } from "../lib/simulator/population.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    customers: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    "time-zones": { type: "string", default: "+00:00" },
  },
});
const sim = new Simulator({
  seed: Number(values.seed),
  customers: Number(values.customers),
  rate: 1,
  startMs: 0,
  anomalyRate: 0,
  invalidRate: 0,
  utcOffsetsMin: parse.utcOffsets.parse(values["time-zones"]),
});
const profiles = new Map(sim.profiles.map((p) => [p.customerId, p.profile]));

interface Sums {
  n: number;
  sum: number;
}
const add = (s: Sums, x: number) => (s.n++, s.sum += x);
const resting = new Map<string, Sums>();
const day: Sums = { n: 0, sum: 0 }, night: Sums = { n: 0, sum: 0 };
let readings = 0, aboveMax = 0, highest = -Infinity;
async function* lines(): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest !== "") yield rest;
}
for await (const line of lines()) {
  if (!line.startsWith('{"seq"')) continue;
  const t = JSON.parse(line).truth;
  if (!t.valid || t.sensor === "artefact" || t.sensor === "duplicate") continue;
  const profile = profiles.get(t.customerId);
  if (profile === undefined) throw new RangeError(`Cannot check ${t.customerId}: rerun with its --customers`);
  readings++;
  if (t.heartRate > profile.maxBpm) aboveMax++;
  highest = Math.max(highest, t.heartRate - profile.maxBpm);
  if (t.episode !== null) continue;
  const localH = ((Date.parse(t.recordedAt) / 3_600_000 + profile.utcOffsetMin / 60) % 24 + 24) % 24;
  if (localH >= 12 && localH < 18) add(day, t.heartRate);
  if (localH >= 1 && localH < 5) add(night, t.heartRate);
  if (t.state === "resting") {
    let s = resting.get(t.customerId);
    if (s === undefined) resting.set(t.customerId, s = { n: 0, sum: 0 });
    add(s, t.heartRate);
  }
}

const meanSd = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, sd: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
};
const drawn = meanSd([...profiles.values()].map((p) => p.restingBpm));
const measured = meanSd([...resting.values()].map((s) => s.sum / s.n));
const ages = [...profiles.values()].map((p) => p.age);
const dayMean = day.sum / day.n, nightMean = night.sum / night.n;
const f = (x: number) => x.toFixed(2);
console.log(`customers ${profiles.size}, valid readings ${readings} (ages ${Math.min(...ages)}–${Math.max(...ages)})`);
console.log(`| figure | value | target |\n|---|---|---|`);
const rows: [string, string, string, boolean][] = [
  [
    "resting rate drawn, mean ± SD",
    `${f(drawn.mean)} ± ${f(drawn.sd)}`,
    `${RESTING_MEAN_BPM} ± 1.5, SD ${RESTING_SD_BPM} ± 1.5`,
    Math.abs(drawn.mean - RESTING_MEAN_BPM) <= 1.5 && Math.abs(drawn.sd - RESTING_SD_BPM) <= 1.5,
  ],
  [
    "resting rate measured (awake, at rest), mean ± SD",
    `${f(measured.mean)} ± ${f(measured.sd)}`,
    `${RESTING_MEAN_BPM} ± 1.5, SD ${RESTING_SD_BPM} ± 1.5`,
    Math.abs(measured.mean - RESTING_MEAN_BPM) <= 1.5 && Math.abs(measured.sd - RESTING_SD_BPM) <= 1.5,
  ],
  ["day level 12:00–18:00, mean", f(dayMean), "", true],
  ["night level 01:00–05:00, mean", f(nightMean), "", true],
  ["day − night", f(dayMean - nightMean), "≥ 5", dayMean - nightMean >= 5],
  ["readings above 208 − 0.7 × age", String(aboveMax), "0", aboveMax === 0],
  ["highest reading − age-predicted maximum", f(highest), "≤ 0", highest <= 0],
];
for (const [name, value, target, ok] of rows) console.log(`| ${name} | ${value} | ${target} ${ok ? "✓" : "✗"} |`);
if (rows.some((r) => !r[3])) Deno.exit(1);
