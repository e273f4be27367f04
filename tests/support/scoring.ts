/**
 * Scores detected alerts against the simulator's ground truth: precision and recall per kind,
 * and the detection delay from an episode's first reading to the reading that opened its alert.
 * Used by the tests and by `deno task bench:episodes`.
 *
 * @module
 */
import type { Alert } from "../../lib/domain/episodes.ts";
import type { EpisodeKind } from "../../lib/domain/heart_rate.ts";
import type { Episode } from "../../lib/simulator/simulator.ts";

/** Scores of one kind. */
export interface KindScore {
  /** Injected episodes. */
  truth: number;
  /** Alerts raised. */
  detected: number;
  /** Alerts that match an injected episode (same customer, kind, overlapping time). */
  truePositives: number;
  /** truePositives / detected (1 when nothing was detected). */
  precision: number;
  /** matched injected episodes / truth (1 when nothing was injected). */
  recall: number;
}

/** The whole score. */
export interface Score {
  /** Per kind. */
  kinds: Record<EpisodeKind, KindScore>;
  /** Detection delays of matched episodes, ms, sorted. */
  delaysMs: number[];
  /** Median detection delay, ms (NaN when nothing matched). */
  medianDelayMs: number;
  /** 95th percentile detection delay, ms. */
  p95DelayMs: number;
}

/** The q-quantile (0..1) of a sorted array, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Matches alerts to injected episodes one to one (same customer and kind, overlapping in time).
 *
 * @example
 * ```ts ignore
 * const score = scoreEpisodes(truthEpisodes, alertsFromTheDatabase);
 * score.kinds.tachycardia.precision; // 1
 * ```
 */
export function scoreEpisodes(truth: readonly Episode[], alerts: readonly Alert[]): Score {
  const kinds = {} as Record<EpisodeKind, KindScore>;
  const delays: number[] = [];
  for (const kind of ["bradycardia", "tachycardia"] as const) {
    const t = truth.filter((e) => e.kind === kind);
    const a = alerts.filter((e) => e.kind === kind);
    const used = new Set<Alert>();
    let matchedTruth = 0;
    for (const e of t) {
      const hit = a.find((x) =>
        !used.has(x) && x.customerId === e.customerId && x.startedAtMs <= e.endMs &&
        (x.endedAt === null ? x.lastAtMs : x.lastAtMs) >= e.startMs
      );
      if (hit === undefined) continue;
      used.add(hit);
      matchedTruth++;
      delays.push(hit.openedAtMs - e.startMs);
    }
    kinds[kind] = {
      truth: t.length,
      detected: a.length,
      truePositives: used.size,
      precision: a.length === 0 ? 1 : used.size / a.length,
      recall: t.length === 0 ? 1 : matchedTruth / t.length,
    };
  }
  delays.sort((x, y) => x - y);
  return { kinds, delaysMs: delays, medianDelayMs: quantile(delays, 0.5), p95DelayMs: quantile(delays, 0.95) };
}
