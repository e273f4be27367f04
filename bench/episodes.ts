#!/usr/bin/env -S deno run --allow-write=bench/results --allow-read=bench/baseline.json
/**
 * Scores episode detection against the simulator's ground truth on seeded runs with the default
 * simulator settings (10 customers, 10 readings/s, anomaly rate 0.002, invalid rate 0.01) and
 * the default detector (5 readings over ≥ 3 s, 3 normal readings end an episode): precision and
 * recall per kind, and the detection delay from an episode's first reading to its alert.
 * The detector runs exactly as in the consumer (EpisodeTracker, batches of 5,000 readings); the
 * end-to-end version through Kafka and PostgreSQL is tests/alerts_test.ts.
 *
 * `deno task bench:episodes [--readings N] [--seeds N] [--compare]`: writes
 * `bench/results/episodes-latest.json` (not in git); `--compare` then prints the scores beside
 * the reviewed `bench/baseline.json`'s (hence `--allow-read=bench/baseline.json`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_DETECTOR, EpisodeTracker, type TrackedReading } from "../lib/domain/episodes.ts";
import { type KindScore, quantile, scoreEpisodes } from "../tests/support/scoring.ts";
import { type Episode, Simulator } from "../lib/simulator/simulator.ts";
import { createValidator, DEFAULT_LIMITS } from "../lib/domain/reading.ts";

import { printComparison } from "./compare_cli.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    readings: { type: "string", default: "500000" },
    seeds: { type: "string", default: "5" },
    compare: { type: "boolean", default: false },
  },
});
const readings = Number(values.readings), seeds = Number(values.seeds);
const start = Date.UTC(2026, 10, 1);
const noHistory = { loadHistory: () => Promise.resolve(new Map()) };
const validate = createValidator(DEFAULT_LIMITS, () => start + readings * 1000);
const encoder = new TextEncoder();

const rows: { seed: number; kind: string; score: KindScore }[] = [];
const delays: number[] = [];
let episodesTotal = 0;
for (let seed = 1; seed <= seeds; seed++) {
  const truth: Episode[] = [];
  const sim = new Simulator({
    seed,
    customers: 10,
    rate: 10,
    startMs: start,
    anomalyRate: 0.002,
    invalidRate: 0.01,
    onEpisode: (e) => truth.push(e),
  });
  const tracker = new EpisodeTracker(noHistory);
  const alerts = new Map<string, Awaited<ReturnType<EpisodeTracker["process"]>>["alerts"][number]>();
  let batch: TrackedReading[] = [];
  const flush = async () => {
    for (const a of (await tracker.process(batch)).alerts) alerts.set(`${a.customerId}|${a.kind}|${a.startedAt}`, a);
    batch = [];
  };
  for (let i = 0; i < readings; i++) {
    const m = sim.next();
    // through the validator, as in the consumer: injected faults are dropped before detection
    const v = validate(typeof m.value === "string" ? encoder.encode(m.value) : m.value);
    if (!v.ok) continue;
    batch.push(v.reading);
    if (batch.length === 5_000) await flush();
  }
  await flush();
  sim.finish();
  const detectable = truth.filter((e) => e.readings >= DEFAULT_DETECTOR.minReadings);
  episodesTotal += detectable.length;
  const score = scoreEpisodes(detectable, [...alerts.values()]);
  delays.push(...score.delaysMs);
  for (const kind of ["bradycardia", "tachycardia"] as const) rows.push({ seed, kind, score: score.kinds[kind] });
}
delays.sort((a, b) => a - b);
const sum = (kind: string, f: (s: KindScore) => number) =>
  rows.filter((r) => r.kind === kind).reduce((n, r) => n + f(r.score), 0);
const summary = Object.fromEntries(["bradycardia", "tachycardia"].map((kind) => {
  const truth = sum(kind, (s) => s.truth),
    detected = sum(kind, (s) => s.detected),
    tp = sum(kind, (s) => s.truePositives);
  const recalled = sum(kind, (s) => s.recall * s.truth);
  return [kind, { truth, detected, truePositives: tp, precision: tp / detected, recall: recalled / truth }];
}));
const result = {
  when: new Date().toISOString(),
  command: `deno task bench:episodes ${Deno.args.join(" ")}`.trim(),
  machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno },
  readingsPerSeed: readings,
  seeds,
  detector: DEFAULT_DETECTOR,
  episodes: episodesTotal,
  kinds: summary,
  delayMs: { p50: quantile(delays, 0.5), p95: quantile(delays, 0.95), max: delays.at(-1) ?? NaN },
  targets: {
    precision: ">= 0.99",
    recall: ">= 0.99",
    medianDelayMs: `<= ${DEFAULT_DETECTOR.minDurationMs + 2000}`,
  },
};
console.log("| kind | injected | alerts | precision | recall |\n|---|---|---|---|---|");
for (const [kind, s] of Object.entries(summary)) {
  console.log(`| ${kind} | ${s.truth} | ${s.detected} | ${s.precision.toFixed(4)} | ${s.recall.toFixed(4)} |`);
}
console.log(
  `\ndetection delay (first abnormal reading → alert): p50 ${result.delayMs.p50 / 1000} s, p95 ${
    result.delayMs.p95 / 1000
  } s, max ${result.delayMs.max / 1000} s (target p50 ≤ ${(DEFAULT_DETECTOR.minDurationMs + 2000) / 1000} s)`,
);
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
const json = JSON.stringify(result, null, 2) + "\n";
await Deno.writeTextFile(new URL("./results/episodes-latest.json", import.meta.url), json);
if (values.compare) {
  console.log("");
  await printComparison([{ file: "bench/results/episodes-latest.json", json: JSON.parse(json) }]);
}
