/**
 * One customer's heart over the day, without sensor or pathology: the level a healthy heart
 * would show at each reading.
 *
 * - **Circadian rhythm**: awake, a ±1.5 bpm daily wave peaking mid-afternoon; asleep (bedtime
 *   and length from the {@link Profile}, in local time), the level falls by the profile's night dip
 *   over half an hour and climbs back over half an hour before waking.
 * - **Weekly shift** of the resting level ({@link WeeklyShift}) and a slow mean-reverting wander
 *   (Ornstein–Uhlenbeck, SD 1.5 bpm, time constant 10 min).
 * - **Activity** while awake: bouts about every 2 h (5–45 min; ramp up over 1–4 min, recover over
 *   2–6 min), at 10–65 % of the heart-rate reserve (Karvonen), so never above the age-predicted
 *   maximum.
 * - **Beat-to-beat variability**: two stochastic oscillators (AR(2) resonators) centred on
 *   0.1 Hz (Mayer waves, LF) and 0.25 Hz (respiration, HF) with an LF/HF power ratio of 0.5, as in
 *   ECGSYN (McSharry et al., IEEE TBME 2003). Scaled to the reading interval: each band is damped
 *   as a reading averages over its interval, and left out once it is above the Nyquist frequency.
 *
 * @module
 */
import type { Profile } from "./population.ts";
import { WeeklyShift } from "./population.ts";
import type { Random } from "./random.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** Centre frequency of the low-frequency (Mayer wave) band, Hz. */
export const LF_HZ = 0.1;
/** Centre frequency of the high-frequency (respiratory) band, Hz. */
export const HF_HZ = 0.25;
/** Beat-to-beat variability of heart rate at rest, SD in bpm, before the per-customer factor. */
const HRV_SD_BPM = 2.5;
/** LF/HF power ratio (ECGSYN's default). */
const LF_HF_RATIO = 0.5;
/** Bandwidth of each oscillator, Hz. */
const BAND_HZ = 0.015;

/** A stochastic oscillator: an AR(2) process with its spectral peak at one frequency. */
class Resonator {
  readonly #a1: number;
  readonly #a2: number;
  readonly #sd: number;
  #x1 = 0;
  #x2 = 0;

  /** @param hz centre frequency; @param sd stationary SD; @param intervalS sampling interval */
  constructor(hz: number, sd: number, intervalS: number) {
    const r = Math.exp(-Math.PI * BAND_HZ * intervalS);
    const w = 2 * Math.PI * hz * intervalS;
    this.#a1 = 2 * r * Math.cos(w);
    this.#a2 = -r * r;
    // the stationary variance of an AR(2) process per unit innovation variance
    const a1 = this.#a1, a2 = this.#a2;
    const gain = (1 - a2) / ((1 + a2) * ((1 - a2) ** 2 - a1 * a1));
    this.#sd = sd / Math.sqrt(gain);
  }

  /** Its next value. */
  next(innovation: number): number {
    const x = this.#a1 * this.#x1 + this.#a2 * this.#x2 + this.#sd * innovation;
    this.#x2 = this.#x1;
    this.#x1 = x;
    return x;
  }
}

/** The SD of a band of `sd` at `hz`, seen through readings that each average `intervalS`. */
function bandSd(hz: number, sd: number, intervalS: number): number {
  if (hz >= 0.5 / intervalS) return 0;
  const x = Math.PI * hz * intervalS;
  return sd * Math.abs(Math.sin(x) / x);
}

/** Half an hour of smooth transition (0 → 1) into and out of sleep. */
function smooth(x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return 0.5 - 0.5 * Math.cos(Math.PI * x);
}

interface Bout {
  startMs: number;
  upMs: number;
  holdMs: number;
  downMs: number;
  target: number;
}

/** What the heart is doing at the latest reading. */
export type State = "asleep" | "resting" | "active";

/**
 * One customer's physiology; call {@link Physiology.level} once per reading, in time order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { drawProfile } from "./population.ts";
 * import { Physiology } from "./physiology.ts";
 * import { Random } from "./random.ts";
 * const random = new Random(1, 1);
 * const heart = new Physiology(drawProfile(random), random, { seed: 1, customer: 1, intervalS: 1 });
 * const bpm = heart.level(Date.UTC(2026, 0, 1, 3)); // 03:00 UTC, asleep
 * assert.equal(heart.state, "asleep");
 * assert.ok(bpm > 30 && bpm < 100);
 * ```
 */
export class Physiology {
  /** The customer's profile. */
  readonly profile: Profile;
  /** The state at the latest reading. */
  state: State = "resting";
  /** The level at the latest reading without beat-to-beat variability, bpm. */
  calm = 0;
  readonly #random: Random;
  readonly #weekly: WeeklyShift;
  readonly #lf: Resonator;
  readonly #hf: Resonator;
  readonly #intervalMs: number;
  readonly #wanderKeep: number;
  readonly #wanderStep: number;
  readonly #boutChance: number;
  #wander = 0;
  #bout: Bout | null = null;

  /**
   * @param profile the customer
   * @param random the customer's own random stream
   * @param where the run's seed, the customer's number (from 1) and the customer's reading interval
   */
  constructor(profile: Profile, random: Random, where: { seed: number; customer: number; intervalS: number }) {
    this.profile = profile;
    this.#random = random;
    const intervalS = where.intervalS;
    this.#intervalMs = intervalS * 1000;
    this.#weekly = new WeeklyShift(profile, where.seed, where.customer);
    const hrv = HRV_SD_BPM * random.uniform(0.6, 1.4) * Math.max(0.5, 1.3 - profile.age / 100);
    const lfSd = hrv * Math.sqrt(LF_HF_RATIO / (1 + LF_HF_RATIO));
    const hfSd = hrv * Math.sqrt(1 / (1 + LF_HF_RATIO));
    this.#lf = new Resonator(LF_HZ, bandSd(LF_HZ, lfSd, intervalS), intervalS);
    this.#hf = new Resonator(HF_HZ, bandSd(HF_HZ, hfSd, intervalS), intervalS);
    const tau = 600;
    this.#wanderKeep = Math.exp(-intervalS / tau);
    this.#wanderStep = 1.5 * Math.sqrt(1 - this.#wanderKeep ** 2);
    this.#boutChance = Math.min(1, intervalS / 7200);
  }

  /** How asleep the customer is at `timeMs`: 0 awake, 1 asleep, in between while falling asleep or waking. */
  sleepiness(timeMs: number): number {
    const p = this.profile;
    const localH = (((timeMs + p.utcOffsetMin * 60_000) % DAY_MS + DAY_MS) % DAY_MS) / HOUR_MS;
    const into = ((localH - p.sleepAtH) % 24 + 24) % 24;
    if (into >= p.sleepHours) return 0;
    return Math.min(smooth(into / 0.5), smooth((p.sleepHours - into) / 0.5));
  }

  /** The healthy level at `timeMs` (not rounded), and {@link Physiology.state} with it. */
  level(timeMs: number): number {
    const p = this.profile, r = this.#random;
    const sleep = this.sleepiness(timeMs);
    const localMs = timeMs + p.utcOffsetMin * 60_000;
    const circadian = 1.5 * Math.cos((2 * Math.PI * (localMs - 15 * HOUR_MS)) / DAY_MS);
    this.#wander = this.#wander * this.#wanderKeep + this.#wanderStep * r.gaussian();
    let level = p.restingBpm + this.#weekly.at(timeMs) + this.#wander + (1 - sleep) * circadian -
      sleep * p.nightDipBpm;
    const hrv = this.#lf.next(r.gaussian()) + this.#hf.next(r.gaussian());
    this.state = sleep > 0.5 ? "asleep" : "resting";
    let bout = this.#bout;
    if (bout === null && sleep === 0 && r.chance(this.#boutChance)) bout = this.#bout = this.#startBout(timeMs, level);
    if (bout !== null) {
      const t = timeMs - bout.startMs;
      const end = bout.upMs + bout.holdMs + bout.downMs;
      if (t >= end) {
        this.#bout = null;
      } else {
        const f = t < bout.upMs
          ? smooth(t / bout.upMs)
          : t < bout.upMs + bout.holdMs
          ? 1
          : 1 - smooth((t - bout.upMs - bout.holdMs) / bout.downMs);
        level += Math.max(0, bout.target - level) * f;
        if (f > 0.2) this.state = "active";
      }
    }
    this.calm = level;
    return Math.min(p.maxBpm - 1, level + hrv);
  }

  /** Whether an activity bout is under way. */
  get active(): boolean {
    return this.#bout !== null;
  }

  #startBout(timeMs: number, level: number): Bout {
    const r = this.#random, p = this.profile;
    const vigorous = r.chance(0.2);
    const reserve = vigorous ? r.uniform(0.4, 0.65) : r.uniform(0.1, 0.35);
    const minutes = r.uniform(5, 45);
    const upMs = r.uniform(1, 4) * 60_000, downMs = r.uniform(2, 6) * 60_000;
    return {
      startMs: timeMs,
      upMs: Math.max(upMs, this.#intervalMs),
      holdMs: minutes * 60_000,
      downMs: Math.max(downMs, this.#intervalMs),
      target: Math.min(p.maxBpm - 5, level + reserve * (p.maxBpm - level)),
    };
  }
}
