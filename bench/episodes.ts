#!/usr/bin/env -S deno run --allow-write=bench/results --allow-read=bench/baseline.json
/**
 * Scores episode detection against the simulator's ground truth on seeded runs of two mixes, with
 * the default detector (5 readings over ≥ 3 s, 3 normal readings end an episode), exactly as it
 * runs in the consumer (EpisodeTracker, in batches):
 *
 * - **easy** (today's mix): 10 customers, 10 readings/s, anomaly rate 0.002, invalid rate 0.01, no
 *   sensor trouble, batches of 5,000 readings;
 * - **hard**: the same customers with anomaly rate 0.004 of which 30 % short (5–8 readings, near
 *   the minimum), motion artefacts (0.005 per reading), dropout gaps (0.002), late deliveries
 *   (0.002), duplicates (0.01) and clock skew (± 2 min), in batches of 10 readings (1 s).
 *
 * Each injected episode is sorted into a kind (the hardest it met: late, in a gap, short, asleep,
 * regular) and each false alert by what it opened on (an artefact spike, a customer's normal
 * sleep, activity; else "regular"). Per kind: recall, precision (its detected episodes over those
 * plus the false alerts of that kind; the three kinds of false alert have their own rows), F1,
 * and the detection delay, median and p95, from the episode's first reading to the reading that
 * opened its alert (reading time, on the device's clock) and to the end of the batch that
 * delivered that reading (arrival: the consumer's view, which counts the wait of late readings). The end-to-end
 * version through Kafka and PostgreSQL is tests/alerts_test.ts.
 *
 * `deno task bench:episodes [--readings N] [--seeds N] [--compare]`: writes
 * `bench/results/episodes-latest.json` (not in git; its top-level `kinds` and `delayMs` are the
 * easy mix's, as before); `--compare` then prints the scores beside `bench/baseline.json`'s.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_DETECTOR } from "../lib/domain/episodes.ts";
import { quantile } from "../tests/support/scoring.ts";
import { KINDS, type Mix, type MixRun, runMix } from "./_episodes_mix.ts";
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
const MIXES: Mix[] = [
  { name: "easy", anomalyRate: 0.002, shortEpisodeShare: 0, sensor: {}, batch: 5_000 },
  {
    name: "hard",
    anomalyRate: 0.004,
    shortEpisodeShare: 0.3,
    sensor: { artefactRate: 0.005, dropoutRate: 0.002, lateRate: 0.002, duplicateRate: 0.01, clockSkewMs: 120_000 },
    batch: 10,
  },
];

const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
const NEGATIVE: readonly string[] = ["artefact", "normal_sleep", "activity"];
const mixes: Record<string, unknown> = {};
const runsOf = new Map<string, MixRun[]>();
for (const mix of MIXES) {
  const runs: MixRun[] = [];
  for (let seed = 1; seed <= seeds; seed++) runs.push(await runMix(mix, seed, readings, start));
  runsOf.set(mix.name, runs);
  const artefacts = runs.reduce((n, r) => n + r.artefacts, 0);
  const rows = KINDS.map((kind) => {
    const all = runs.map((r) => r.kinds[kind]);
    const truth = all.reduce((n, k) => n + k.truth, 0), hits = all.reduce((n, k) => n + k.hits, 0);
    const falseAlerts = all.reduce((n, k) => n + k.falseAlerts, 0);
    const delays = sorted(all.flatMap((k) => k.delays)), arrival = sorted(all.flatMap((k) => k.arrival));
    const precision = hits + falseAlerts === 0 ? NaN : hits / (hits + falseAlerts);
    const recall = truth === 0 ? NaN : hits / truth;
    const f1 = 2 * precision * recall / (precision + recall);
    const delayMs = { p50: quantile(delays, 0.5), p95: quantile(delays, 0.95) };
    const arrivalMs = { p50: quantile(arrival, 0.5), p95: quantile(arrival, 0.95) };
    return { kind, truth, hits, falseAlerts, precision, recall, f1, delayMs, arrivalMs };
  });
  const total = (f: (r: typeof rows[number]) => number) => rows.reduce((n, r) => n + f(r), 0);
  const hits = total((r) => r.hits), truth = total((r) => r.truth), falseAlerts = total((r) => r.falseAlerts);
  const precision = hits / (hits + falseAlerts), recall = hits / truth;
  const delays = sorted(runs.flatMap((r) => KINDS.flatMap((k) => r.kinds[k].delays)));
  const arrival = sorted(runs.flatMap((r) => KINDS.flatMap((k) => r.kinds[k].arrival)));
  const overall = {
    kind: "all",
    truth,
    hits,
    falseAlerts,
    precision,
    recall,
    f1: 2 * precision * recall / (precision + recall),
    delayMs: { p50: quantile(delays, 0.5), p95: quantile(delays, 0.95) },
    arrivalMs: { p50: quantile(arrival, 0.5), p95: quantile(arrival, 0.95) },
  };
  mixes[mix.name] = { ...mix, rows, overall, artefacts };
  console.log(`\n${mix.name} mix: ${seeds} seeds × ${readings} readings, batches of ${mix.batch}`);
  console.log(
    "| kind | episodes | detected | false alerts | precision | recall | F1 | delay p50 / p95 s | arrival p50 / p95 s |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  const n = (x: number) => Number.isNaN(x) ? "–" : x.toFixed(3), s = (ms: number) => Number.isNaN(ms) ? "–" : ms / 1000;
  for (const r of [...rows, overall]) {
    // the last three kinds hold only false alerts: what they opened on
    const negative = NEGATIVE.includes(r.kind);
    const cases = r.kind === "artefact" ? `${artefacts} spikes` : negative ? "–" : String(r.truth);
    const [p, rc, f] = negative ? ["–", "–", "–"] : [n(r.precision), n(r.recall), n(r.f1)];
    console.log(
      `| ${r.kind} | ${cases} | ${negative ? "–" : r.hits} | ${r.falseAlerts} | ${p} | ${rc} | ${f} | ` +
        `${s(r.delayMs.p50)} / ${s(r.delayMs.p95)} | ${s(r.arrivalMs.p50)} / ${s(r.arrivalMs.p95)} |`,
    );
  }
}

// the easy mix per side of the range, shaped as before so that bench:compare reads it
const easy = runsOf.get("easy")!;
const side = (kind: "bradycardia" | "tachycardia") => {
  const ks = easy.map((r) => r.score.kinds[kind]);
  const truth = ks.reduce((n, k) => n + k.truth, 0), detected = ks.reduce((n, k) => n + k.detected, 0);
  const tp = ks.reduce((n, k) => n + k.truePositives, 0);
  return { truth, detected, truePositives: tp, precision: tp / detected, recall: tp / truth };
};
const delays = sorted(easy.flatMap((r) => r.score.delaysMs));
const result = {
  when: new Date().toISOString(),
  command: `deno task bench:episodes ${Deno.args.join(" ")}`.trim(),
  machine: { cpus: navigator.hardwareConcurrency, deno: Deno.version.deno },
  readingsPerSeed: readings,
  seeds,
  detector: DEFAULT_DETECTOR,
  episodes: side("bradycardia").truth + side("tachycardia").truth,
  kinds: { bradycardia: side("bradycardia"), tachycardia: side("tachycardia") },
  delayMs: { p50: quantile(delays, 0.5), p95: quantile(delays, 0.95), max: delays.at(-1) ?? NaN },
  mixes,
  targets: { easy: "precision and recall >= 0.99", hard: "precision and recall >= 0.95" },
};
await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
const json = JSON.stringify(result, null, 2) + "\n";
await Deno.writeTextFile(new URL("./results/episodes-latest.json", import.meta.url), json);
if (values.compare) {
  console.log("");
  await printComparison([{ file: "bench/results/episodes-latest.json", json: JSON.parse(json) }]);
}
