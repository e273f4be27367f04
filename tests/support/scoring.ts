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

/** The one-to-one matching of alerts to injected episodes. */
export interface Matching {
  /** Each detected episode with its alert. */
  matched: { episode: Episode; alert: Alert }[];
  /** Episodes no alert matched. */
  missed: Episode[];
  /** Alerts that match no episode. */
  falseAlerts: Alert[];
}

/**
 * Matches alerts to injected episodes one to one: same customer and kind, overlapping in time on
 * the device's clock (an episode's true times plus its device's clock skew).
 */
export function matchEpisodes(truth: readonly Episode[], alerts: readonly Alert[]): Matching {
  const used = new Set<Alert>();
  const matched: Matching["matched"] = [];
  const missed: Episode[] = [];
  const byCustomer = new Map<string, Alert[]>();
  for (const a of alerts) {
    const list = byCustomer.get(a.customerId);
    if (list === undefined) byCustomer.set(a.customerId, [a]);
    else list.push(a);
  }
  for (const e of truth) {
    const skew = e.clockSkewMs ?? 0;
    const hit = (byCustomer.get(e.customerId) ?? []).find((x) =>
      !used.has(x) && x.kind === e.kind && x.startedAtMs <= e.endMs + skew && x.lastAtMs >= e.startMs + skew
    );
    if (hit === undefined) {
      missed.push(e);
      continue;
    }
    used.add(hit);
    matched.push({ episode: e, alert: hit });
  }
  return { matched, missed, falseAlerts: alerts.filter((a) => !used.has(a)) };
}

/**
 * Scores alerts against injected episodes matched one to one (see {@link matchEpisodes}).
 *
 * @example
 * ```ts ignore
 * const score = scoreEpisodes(truthEpisodes, alertsFromTheDatabase);
 * score.kinds.tachycardia.precision; // 1
 * ```
 */
export function scoreEpisodes(truth: readonly Episode[], alerts: readonly Alert[]): Score {
  const kinds = {} as Record<EpisodeKind, KindScore>;
  const { matched } = matchEpisodes(truth, alerts);
  const delays = matched.map(({ episode, alert }) => alert.openedAtMs - episode.startMs - (episode.clockSkewMs ?? 0));
  for (const kind of ["bradycardia", "tachycardia"] as const) {
    const t = truth.filter((e) => e.kind === kind).length;
    const a = alerts.filter((e) => e.kind === kind).length;
    const hits = matched.filter((m) => m.episode.kind === kind).length;
    kinds[kind] = {
      truth: t,
      detected: a,
      truePositives: hits,
      precision: a === 0 ? 1 : hits / a,
      recall: t === 0 ? 1 : hits / t,
    };
  }
  delays.sort((x, y) => x - y);
  return { kinds, delaysMs: delays, medianDelayMs: quantile(delays, 0.5), p95DelayMs: quantile(delays, 0.95) };
}

/**
 * Leaves out what a detector cannot be scored on: the episodes that began while it was still
 * learning the customers' baselines (before `learntMs`), and the alerts that match them.
 */
export function afterLearning(
  truth: readonly Episode[],
  alerts: readonly Alert[],
  learntMs: number,
): { truth: Episode[]; alerts: Alert[] } {
  const early = truth.filter((e) => e.startMs < learntMs);
  const { matched } = matchEpisodes(early, alerts);
  const theirs = new Set(matched.map((m) => m.alert));
  return { truth: truth.filter((e) => e.startMs >= learntMs), alerts: alerts.filter((a) => !theirs.has(a)) };
}
