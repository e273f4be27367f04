/**
 * Sensor and link trouble of one device, each at a configured rate: dropouts (readings lost in
 * gaps of 5–60 readings), motion artefacts (spikes of 1–3 readings the heart never made: a
 * doubled or halved count, or a jump to 150–230 or 25–40 bpm), late deliveries (the link holds
 * 5–60 readings and delivers them in a burst 5–30 readings after it comes back, when newer
 * readings have gone ahead), duplicated deliveries, and a fixed clock skew per device.
 * Quantisation to whole bpm is the simulator's (every reading is rounded).
 *
 * @module
 */
import type { Random } from "./random.ts";

/** Rates of sensor and link trouble. */
export interface SensorOptions {
  /** Chance per reading that a dropout gap starts (5–60 readings lost). */
  dropoutRate: number;
  /** Chance per reading that a motion artefact starts (1–3 readings replaced by a spike). */
  artefactRate: number;
  /** Chance per reading that the link starts holding readings (5–60, delivered late in a burst). */
  lateRate: number;
  /** Chance per delivered reading that it is delivered twice. */
  duplicateRate: number;
  /** Largest clock skew of a device, ms; each device's is drawn uniformly within ± this. */
  clockSkewMs: number;
}

/** No trouble at all: the default. */
export const NO_SENSOR_TROUBLE: Readonly<SensorOptions> = Object.freeze({
  dropoutRate: 0,
  artefactRate: 0,
  lateRate: 0,
  duplicateRate: 0,
  clockSkewMs: 0,
});

/** Whether any trouble is configured. */
export function hasTrouble(o: SensorOptions): boolean {
  return o.dropoutRate > 0 || o.artefactRate > 0 || o.lateRate > 0 || o.duplicateRate > 0 || o.clockSkewMs > 0;
}

/** What becomes of one reading. */
export type Fate = "lost" | "held" | "sent";

/** One device's sensor and link; call {@link SensorLink.fate} once per reading, in order. */
export class SensorLink {
  /** The device clock minus true time, ms. */
  readonly skewMs: number;
  readonly #o: SensorOptions;
  readonly #random: Random;
  #lostLeft = 0;
  #lost = false;
  #holdLeft = 0;
  #releaseIn = 0;
  #spikeLeft = 0;
  #spike: (bpm: number) => number = (bpm) => bpm;

  /** @param options the rates; @param random the device's own random stream */
  constructor(options: SensorOptions, random: Random) {
    this.#o = options;
    this.#random = random;
    this.skewMs = options.clockSkewMs > 0 ? Math.round(random.uniform(-1, 1) * options.clockSkewMs) : 0;
  }

  /** Whether readings were lost just before the latest sent one (it is the first after a gap). */
  afterGap = false;

  /** Decides what becomes of the next reading. */
  fate(): Fate {
    const r = this.#random, o = this.#o;
    if (this.#lostLeft === 0 && o.dropoutRate > 0 && r.chance(o.dropoutRate)) this.#lostLeft = r.int(5, 60);
    if (this.#lostLeft > 0) {
      this.#lostLeft--;
      this.#lost = true;
      return "lost";
    }
    this.afterGap = this.#lost;
    this.#lost = false;
    if (this.#holdLeft === 0 && this.#releaseIn === 0 && o.lateRate > 0 && r.chance(o.lateRate)) {
      this.#holdLeft = r.int(5, 60);
    }
    if (this.#holdLeft > 0) {
      if (--this.#holdLeft === 0) this.#releaseIn = r.int(5, 30);
      return "held";
    }
    return "sent";
  }

  /** Whether the held readings are delivered now (after the current one); call once per sent reading. */
  release(): boolean {
    return this.#releaseIn > 0 && --this.#releaseIn === 0;
  }

  /** The artefact that replaces a reading of `bpm`, or NaN when the reading is genuine. */
  artefact(bpm: number): number {
    const r = this.#random, o = this.#o;
    if (this.#spikeLeft === 0 && o.artefactRate > 0 && r.chance(o.artefactRate)) {
      this.#spikeLeft = r.int(1, 3);
      const kind = r.int(0, 3);
      const to = kind === 2 ? r.uniform(150, 230) : r.uniform(25, 40);
      this.#spike = kind === 0 ? (b) => Math.min(250, b * 2) : kind === 1 ? (b) => Math.max(22, b / 2) : () => to;
    }
    if (this.#spikeLeft === 0) return Number.NaN;
    this.#spikeLeft--;
    return Math.round(this.#spike(bpm));
  }

  /** Whether the current reading is delivered a second time. */
  duplicate(): boolean {
    return this.#o.duplicateRate > 0 && this.#random.chance(this.#o.duplicateRate);
  }
}
