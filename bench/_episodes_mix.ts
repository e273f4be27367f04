/**
 * One seeded run of `deno task bench:episodes`: the simulator's messages through the validator
 * and the consumer's EpisodeTracker in batches, each alert matched to the injected episodes and
 * sorted into the kinds of the detection benchmark (issue 21).
 *
 * @module
 */
import {
  type Alert,
  DEFAULT_DETECTOR,
  EpisodeTracker,
  LONG_BASELINE_READINGS,
  type TrackedReading,
} from "../lib/domain/episodes.ts";
import { createValidator, DEFAULT_LIMITS } from "../lib/domain/reading.ts";
import type { SensorOptions } from "../lib/simulator/sensor.ts";
import type { State } from "../lib/simulator/physiology.ts";
import { type Episode, Simulator } from "../lib/simulator/simulator.ts";
import { afterLearning, matchEpisodes, type Score, scoreEpisodes } from "../tests/support/scoring.ts";

/** A mix of physiology, episodes and sensor trouble to score the detector on. */
export interface Mix {
  /** Its name in the report. */
  name: string;
  /** Chance per reading of an anomaly episode. */
  anomalyRate: number;
  /** Fraction of episodes that are short (5–8 readings). */
  shortEpisodeShare: number;
  /** Sensor and link trouble. */
  sensor: Partial<SensorOptions>;
  /** Readings per batch handed to the tracker (the consumer's batches). */
  batch: number;
}

/**
 * The kinds the benchmark reports: what an injected episode was (the first five), or what a false
 * alert opened on (the last three: an artefact spike, a customer's normal sleep, activity).
 */
export const KINDS = ["regular", "short", "in_gap", "asleep", "late", "artefact", "normal_sleep", "activity"] as const;
/** One of {@link KINDS}. */
export type Kind = typeof KINDS[number];

/** The result of one seeded run of a mix. */
export interface MixRun {
  /** Per kind: detectable episodes, those detected, false alerts, delays (reading time, arrival). */
  kinds: Record<Kind, { truth: number; hits: number; falseAlerts: number; delays: number[]; arrival: number[] }>;
  /** Motion artefacts injected (bursts of 1–3 readings, valid ones). */
  artefacts: number;
  /** The score per side of the range (bradycardia, tachycardia), as today's benchmark gave it. */
  score: Score;
}

/** The kind of an injected episode: the hardest circumstance it met, in this order. */
function kindOf(e: Episode): Kind {
  if (e.late) return "late";
  if (e.inGap) return "in_gap";
  if (e.readings <= 8) return "short";
  if (e.asleep) return "asleep";
  return "regular";
}

/** Runs a mix for one seed and scores it. */
export async function runMix(mix: Mix, seed: number, readings: number, startMs: number): Promise<MixRun> {
  const truth: Episode[] = [];
  const sim = new Simulator({
    seed,
    customers: 10,
    rate: 10,
    startMs,
    anomalyRate: mix.anomalyRate,
    invalidRate: 0.01,
    shortEpisodeShare: mix.shortEpisodeShare,
    sensor: mix.sensor,
    onEpisode: (e) => truth.push(e),
  });
  const validate = createValidator(DEFAULT_LIMITS, () => startMs + readings * 1000);
  const encoder = new TextEncoder();
  const tracker = new EpisodeTracker({ loadHistory: () => Promise.resolve(new Map()) });
  const alerts = new Map<string, Alert>();
  const arrival = new Map<string, number>();
  // what each reading was, to tell why a false alert opened: per customer, [ms, state or artefact]
  const context = new Map<string, [number, State | "artefact"][]>();
  let batch: TrackedReading[] = [];
  let nowMs = startMs, artefacts = 0;
  const inArtefact = new Set<string>();
  const flush = async () => {
    const { alerts: changed, events } = await tracker.process(batch);
    for (const a of changed) alerts.set(`${a.customerId}|${a.kind}|${a.startedAt}`, a);
    for (const e of events) {
      const key = `${e.alert.customerId}|${e.alert.kind}|${e.alert.startedAt}`;
      if (e.type === "open" && !arrival.has(key)) arrival.set(key, nowMs);
    }
    batch = [];
  };
  for (let i = 0; i < readings; i++) {
    const m = sim.next();
    nowMs = m.timeMs;
    const v = validate(typeof m.value === "string" ? encoder.encode(m.value) : m.value);
    if (!v.ok) continue;
    if (m.truth.valid) {
      const t = m.truth;
      let list = context.get(t.customerId);
      if (list === undefined) context.set(t.customerId, list = []);
      list.push([v.reading.recordedAtMs, t.sensor === "artefact" ? "artefact" : t.state]);
      if (t.sensor !== "artefact") inArtefact.delete(t.customerId);
      else if (!inArtefact.has(t.customerId)) (inArtefact.add(t.customerId), artefacts++);
    }
    batch.push(v.reading);
    if (batch.length >= mix.batch) await flush();
  }
  await flush();
  sim.finish();
  // what can be scored: episodes with enough readings delivered, after the customers' first
  // readings (a reading a second each), which only train the detector's baselines
  const scored = afterLearning(
    truth.filter((e) => e.delivered >= DEFAULT_DETECTOR.minReadings),
    [...alerts.values()],
    startMs + (LONG_BASELINE_READINGS + 1) * 1000,
  );
  const { matched, missed, falseAlerts } = matchEpisodes(scored.truth, scored.alerts);
  const kinds = Object.fromEntries(
    KINDS.map((k) => [k, { truth: 0, hits: 0, falseAlerts: 0, delays: [] as number[], arrival: [] as number[] }]),
  ) as MixRun["kinds"];
  for (const e of missed) kinds[kindOf(e)].truth++;
  for (const { episode: e, alert: a } of matched) {
    const k = kinds[kindOf(e)];
    k.truth++;
    k.hits++;
    k.delays.push(a.openedAtMs - e.startMs - e.clockSkewMs);
    k.arrival.push(arrival.get(`${a.customerId}|${a.kind}|${a.startedAt}`)! - e.startMs);
  }
  for (const a of falseAlerts) kinds[causeOf(a, context)].falseAlerts++;
  return { kinds, artefacts, score: scoreEpisodes(scored.truth, scored.alerts) };
}

/** What a false alert opened on: an artefact among its readings, sleep, activity, or nothing known. */
function causeOf(a: Alert, context: Map<string, [number, State | "artefact"][]>): Kind {
  let asleep = false, active = false;
  for (const [ms, c] of context.get(a.customerId) ?? []) {
    if (ms < a.startedAtMs || ms > a.openedAtMs) continue;
    if (c === "artefact") return "artefact";
    if (c === "asleep") asleep = true;
    if (c === "active") active = true;
  }
  return asleep ? "normal_sleep" : active ? "activity" : "regular";
}
