/**
 * Heart-rate thresholds and classification: the one place that says what is normal.
 *
 * Thresholds (adult, at rest):
 * - normal 60–100 bpm: American Heart Association, "All About Heart Rate (Pulse)"; the reference
 *   implementation's `is_anomaly` rule is the same (below 60 or above 100; 60 and 100 are normal);
 * - bradycardia below 60 and tachycardia above 100 bpm: the same bounds, as used by the 2018
 *   ACC/AHA/HRS bradycardia guideline and the 2015 ACC/AHA/HRS SVT guideline;
 * - critical low below 40 bpm: the level at which the 2018 ACC/AHA/HRS guideline treats awake
 *   bradycardia as significant;
 * - critical high above 150 bpm: the rate from which the AHA ACLS adult tachycardia algorithm
 *   considers the rhythm itself the likely cause of instability.
 *
 * @module
 */

/** Below this many bpm a reading is an anomaly (bradycardia; 60 itself is normal). */
export const ANOMALY_BELOW_BPM = 60;
/** Above this many bpm a reading is an anomaly (tachycardia; 100 itself is normal). */
export const ANOMALY_ABOVE_BPM = 100;
/** Below this many bpm: critical low. */
export const CRITICAL_LOW_BELOW_BPM = 40;
/** Above this many bpm: critical high. */
export const CRITICAL_HIGH_ABOVE_BPM = 150;

/** A reading's class. */
export type Category = "critical_low" | "bradycardia" | "normal" | "tachycardia" | "critical_high";

/** The kinds of sustained episode: the two sides of the normal range. */
export type EpisodeKind = "bradycardia" | "tachycardia";

/** How sure an alarm is: critical when the episode's peak crossed a critical threshold. */
export type Severity = "warning" | "critical";

/**
 * Whether a heart rate is abnormal: below 60 or above 100 bpm.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isAnomalous } from "./heart_rate.ts";
 * assert.equal(isAnomalous(59), true);
 * assert.equal(isAnomalous(60), false);
 * assert.equal(isAnomalous(100), false);
 * ```
 */
export function isAnomalous(heartRate: number): boolean {
  return heartRate < ANOMALY_BELOW_BPM || heartRate > ANOMALY_ABOVE_BPM;
}

/**
 * Classifies a heart rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classify } from "./heart_rate.ts";
 * assert.equal(classify(39), "critical_low");
 * assert.equal(classify(60), "normal");
 * assert.equal(classify(151), "critical_high");
 * ```
 */
export function classify(heartRate: number): Category {
  if (heartRate < CRITICAL_LOW_BELOW_BPM) return "critical_low";
  if (heartRate < ANOMALY_BELOW_BPM) return "bradycardia";
  if (heartRate <= ANOMALY_ABOVE_BPM) return "normal";
  if (heartRate <= CRITICAL_HIGH_ABOVE_BPM) return "tachycardia";
  return "critical_high";
}

/**
 * The side of the normal range a heart rate is on, or null when it is normal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sideOf } from "./heart_rate.ts";
 * assert.equal(sideOf(59.5), "bradycardia");
 * assert.equal(sideOf(72), null);
 * ```
 */
export function sideOf(heartRate: number): EpisodeKind | null {
  if (heartRate < ANOMALY_BELOW_BPM) return "bradycardia";
  if (heartRate > ANOMALY_ABOVE_BPM) return "tachycardia";
  return null;
}

/** The severity of an episode of `kind` whose most extreme reading so far is `peak`. */
export function severityOf(kind: EpisodeKind, peak: number): Severity {
  return (kind === "bradycardia" ? peak < CRITICAL_LOW_BELOW_BPM : peak > CRITICAL_HIGH_ABOVE_BPM)
    ? "critical"
    : "warning";
}
