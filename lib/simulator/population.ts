/**
 * The simulated population: one {@link Profile} per customer, drawn to match large wearable
 * studies.
 *
 * - Resting heart rate: normal, mean 65.5 bpm, SD 7.7, kept within 40–109 bpm (Quer et al.,
 *   "Inter- and intraindividual variability in daily resting heart rate", PLOS ONE 2020: 92,457
 *   Fitbit users, mean 65.5 ± 7.7 bpm, range about 40–109).
 * - Weekly shift: each customer's weekly mean moves around their resting rate by a per-customer
 *   amount, so that about a fifth of customers see weekly means 10 bpm or more apart over two
 *   years (the same study: 20 % of people had such a range).
 * - Age 18–90 (normal around 45, SD 15) and the age-predicted maximum heart rate of Tanaka et al.
 *   (JACC 2001): 208 − 0.7 × age. No simulated physiology goes above it.
 * - Sleep: bedtime around 23:00 (SD 1 h), 6–9 h of sleep, in the customer's local time.
 *
 * @module
 */
import { Random } from "./random.ts";

/** Population resting heart rate, bpm (Quer et al. 2020). */
export const RESTING_MEAN_BPM = 65.5;
/** Population SD of resting heart rate, bpm (Quer et al. 2020). */
export const RESTING_SD_BPM = 7.7;
/** Lowest resting rate drawn, bpm. */
export const RESTING_MIN_BPM = 40;
/** Highest resting rate drawn, bpm. */
export const RESTING_MAX_BPM = 109;

const WEEK_MS = 7 * 86_400_000;

/** One customer's physiology, fixed for the run. */
export interface Profile {
  /** Age in whole years. */
  age: number;
  /** Awake resting heart rate, bpm (the long-term mean around which weekly means move). */
  restingBpm: number;
  /** Age-predicted maximum heart rate (Tanaka: 208 − 0.7 × age), bpm. */
  maxBpm: number;
  /** SD of the customer's weekly mean around `restingBpm`, bpm. */
  weeklySdBpm: number;
  /** How far the sleeping level falls below the awake resting level, bpm. */
  nightDipBpm: number;
  /** Bedtime, hours after local midnight (may be past 24: after midnight). */
  sleepAtH: number;
  /** Hours asleep. */
  sleepHours: number;
  /** Local time zone, minutes east of UTC. */
  utcOffsetMin: number;
}

/**
 * The age-predicted maximum heart rate (Tanaka et al. 2001).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tanakaMaxBpm } from "./population.ts";
 * assert.equal(tanakaMaxBpm(40), 180);
 * ```
 */
export function tanakaMaxBpm(age: number): number {
  return 208 - 0.7 * age;
}

/**
 * Draws a customer's profile from `random` (the customer's own stream).
 *
 * @param utcOffsetMin the customer's time zone, minutes east of UTC
 */
export function drawProfile(random: Random, utcOffsetMin = 0): Profile {
  let restingBpm = random.gaussian(RESTING_MEAN_BPM, RESTING_SD_BPM);
  while (restingBpm < RESTING_MIN_BPM || restingBpm > RESTING_MAX_BPM) {
    restingBpm = random.gaussian(RESTING_MEAN_BPM, RESTING_SD_BPM);
  }
  const age = Math.round(Math.min(90, Math.max(18, random.gaussian(45, 15))));
  return {
    age,
    restingBpm,
    maxBpm: tanakaMaxBpm(age),
    // log-normal around 1.65 bpm: over two years, about a fifth of customers see weekly means 10 bpm apart
    weeklySdBpm: 1.65 * Math.exp(0.55 * random.gaussian()),
    nightDipBpm: Math.min(14, Math.max(4, random.gaussian(8, 2))),
    sleepAtH: 23 + Math.max(-2.5, Math.min(2.5, random.gaussian(0, 1))),
    sleepHours: random.uniform(6, 9),
    utcOffsetMin,
  };
}

/**
 * A customer's weekly shift: how far their weekly mean lies from their resting rate, bpm. One
 * value per calendar week (counted from the epoch), drawn from `(seed, customer, week)` so that
 * it needs no history, and joined linearly across each week so that the level never jumps.
 * {@link WeeklyShift.at} keeps the two values of the current week.
 */
export class WeeklyShift {
  readonly #sd: number;
  readonly #seed: number;
  readonly #customer: number;
  #week = Number.NaN;
  #from = 0;
  #to = 0;

  /** @param profile the customer; @param seed the run's seed; @param customer its number (from 1) */
  constructor(profile: Profile, seed: number, customer: number) {
    this.#sd = profile.weeklySdBpm;
    this.#seed = seed;
    this.#customer = customer;
  }

  /** The shift at `timeMs`, bpm. */
  at(timeMs: number): number {
    const weeks = timeMs / WEEK_MS;
    const week = Math.floor(weeks);
    if (week !== this.#week) {
      this.#week = week;
      this.#from = this.#knot(week);
      this.#to = this.#knot(week + 1);
    }
    const f = weeks - week;
    return this.#sd * (this.#from * (1 - f) + this.#to * f);
  }

  #knot(week: number): number {
    return new Random(this.#seed ^ 0x5eed, this.#customer * 1_000_003 + week).gaussian();
  }
}
