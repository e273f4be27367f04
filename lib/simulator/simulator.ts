/**
 * The heart-rate simulator: per-customer physiology (resting rate, slow drift, light activity
 * episodes with ramps, sensor noise), injected anomaly episodes (bradycardia, tachycardia) and
 * injected faults (malformed payloads, out-of-range values, missing fields, ...) at set rates.
 *
 * It is deterministic: the same options (seed, start, rates, customers) give the same messages,
 * byte for byte. Each message carries its ground truth (what a correct consumer must do with it),
 * which the tests and the benchmark score the pipeline against.
 *
 * Time is simulated: message `i` is taken at `start + i / rate` seconds, customers in turn, so each
 * customer reads every `customers / rate` seconds. Episode lengths are counted in the customer's
 * own readings, so anomalies show at any rate.
 *
 * @module
 */
import { type EpisodeKind, isAnomalous } from "../domain/heart_rate.ts";
import type { ReasonCode } from "../domain/reading.ts";
import { Physiology, type State } from "./physiology.ts";
import { drawProfile, type Profile } from "./population.ts";
import { Random, uuidv7 } from "./random.ts";
import { type Fate, hasTrouble, NO_SENSOR_TROUBLE, SensorLink, type SensorOptions } from "./sensor.ts";

/** The kinds of injected fault, each with the reason code a correct consumer must give. */
export const FAULTS = {
  truncated_json: "not_json",
  binary_garbage: "not_utf8",
  empty_payload: "empty",
  json_array: "not_object",
  missing_heart_rate: "missing_field",
  missing_timestamp: "missing_field",
  null_heart_rate: "null_field",
  heart_rate_as_string: "wrong_type",
  heart_rate_out_of_range: "heart_rate_out_of_range",
  unparsable_timestamp: "timestamp_unparsable",
  timestamp_without_zone: "timestamp_without_timezone",
  timestamp_in_future: "timestamp_in_future",
  bad_customer_id: "customer_id_invalid",
  oversize_payload: "too_large",
  duplicate_key: "duplicate_key",
} as const satisfies Record<string, ReasonCode>;

/** One of the injected fault kinds. */
export type FaultKind = keyof typeof FAULTS;

const FAULT_KINDS = Object.keys(FAULTS) as FaultKind[];

/** An injected anomaly episode: the simulator's ground truth for episode detection. */
export interface Episode {
  /** The customer it happened to. */
  customerId: string;
  /** What was injected. */
  kind: EpisodeKind;
  /** Simulated time of its first reading, epoch ms (true time: add `clockSkewMs` for the device's). */
  startMs: number;
  /** Simulated time of its last reading, epoch ms. */
  endMs: number;
  /** Number of the customer's readings inside the episode (ramps included). */
  readings: number;
  /** The heart rate the episode aimed at, bpm. */
  targetBpm: number;
  /** The customer's device clock minus true time, ms (the readings' timestamps carry it). */
  clockSkewMs: number;
  /** Readings of it delivered as valid, non-artefact messages (duplicates counted once). */
  delivered: number;
  /** Whether the customer was asleep when it started. */
  asleep: boolean;
  /** Whether it started while the customer's readings were lost (a dropout gap). */
  inGap: boolean;
  /** Whether some of its readings were delivered late (after newer readings of the customer). */
  late: boolean;
}

/** How the sensor and the link changed a valid message (null: not at all). */
export type SensorMark =
  /** A motion artefact: the heart rate is a spike the heart never made. */
  | "artefact"
  /** Delivered late: newer readings of the customer were delivered before it. */
  | "late"
  /** A second delivery of a reading already delivered. */
  | "duplicate"
  /** The first reading delivered after a dropout gap (readings lost before it). */
  | "after_gap";

/** What a correct consumer must do with a simulated message. */
export type Truth =
  | {
    valid: true;
    customerId: string;
    /** Normalised timestamp as the consumer stores it (UTC, microseconds; device clock). */
    recordedAt: string;
    heartRate: number;
    isAnomaly: boolean;
    readingId: string;
    /** The injected episode this reading belongs to, if any. */
    episode: EpisodeKind | null;
    /** What the customer was doing. */
    state: State;
    /** What the sensor or the link did to it, if anything. */
    sensor: SensorMark | null;
  }
  | { valid: false; customerId: string; fault: FaultKind; reason: ReasonCode };

/** One simulated Kafka message. */
export interface SimulatedMessage {
  /** Sequence number from 0. */
  seq: number;
  /** The Kafka key: the customer id. */
  key: string;
  /** The payload: JSON text, or raw bytes for faults that are not text. */
  value: string | Uint8Array;
  /** Simulated time the message is sent, epoch ms (the reading's own time unless it is late). */
  timeMs: number;
  /** The ground truth. */
  truth: Truth;
}

/** Settings of a {@link Simulator}. */
export interface SimulatorOptions {
  /** Random seed. */
  seed: number;
  /** Number of customers, named CUST-001, CUST-002, ... */
  customers: number;
  /** Readings per second, all customers together. */
  rate: number;
  /** Simulated time of the first reading, epoch ms. */
  startMs: number;
  /** Chance per reading that an idle customer starts an anomaly episode. */
  anomalyRate: number;
  /** Fraction of messages replaced by an injected fault. */
  invalidRate: number;
  /** Sensor and link trouble (default: none). */
  sensor?: Partial<SensorOptions>;
  /** The customers' time zones, minutes east of UTC, dealt out in turn (default: all UTC). */
  utcOffsetsMin?: readonly number[];
  /** Fraction of anomaly episodes that are short: 5–8 readings, no ramp (default 0). */
  shortEpisodeShare?: number;
  /** Called with each anomaly episode when it ends (or when {@link Simulator.finish} runs). */
  onEpisode?: (episode: Episode) => void;
}

interface Anomaly {
  kind: EpisodeKind;
  /** readings elapsed, total length, ramp length */
  at: number;
  length: number;
  ramp: number;
  target: number;
  truth: Episode;
}

interface Customer {
  id: string;
  random: Random;
  heart: Physiology;
  anomaly: Anomaly | null;
  /** The anomaly episode the latest reading belongs to (still set on an episode's last reading). */
  episode: Anomaly | null;
  lastMs: number;
  /** Readings left before another anomaly episode may start (a heart does not flap). */
  cooldown: number;
  link: SensorLink;
}

/** Readings after an anomaly episode before another may start, so that episodes stay distinct. */
const EPISODE_COOLDOWN = 120;

/** What {@link Simulator} returns internally for a lost reading (never handed out). */
const EMPTY = Object.freeze({}) as SimulatedMessage;

/**
 * Formats epoch microseconds as UTC ISO 8601 with six fractional digits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isoMicros } from "./simulator.ts";
 * assert.equal(isoMicros(1_767_225_600_000_001), "2026-01-01T00:00:00.000001Z");
 * ```
 */
export function isoMicros(epochMicros: number): string {
  const second = Math.floor(epochMicros / 1e6);
  // consecutive readings share their second: format it once (Date#toISOString is the costly part)
  if (second !== lastSecond) {
    lastSecond = second;
    lastSecondPrefix = new Date(second * 1000).toISOString().slice(0, 19);
  }
  return `${lastSecondPrefix}.${String(epochMicros - second * 1e6).padStart(6, "0")}Z`;
}

let lastSecond = Number.NaN;
let lastSecondPrefix = "";

/** Formats a customer number as its id, e.g. 1 → `CUST-001`. */
export function customerId(n: number): string {
  return `CUST-${String(n).padStart(3, "0")}`;
}

/**
 * The simulator; call {@link Simulator.next} for each message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Simulator } from "./simulator.ts";
 * const sim = new Simulator({ seed: 7, customers: 3, rate: 10, startMs: Date.UTC(2026, 0, 1), anomalyRate: 0.01, invalidRate: 0.01 });
 * const first = sim.next();
 * assert.equal(first.seq, 0);
 * assert.equal(first.key, "CUST-001");
 * assert.ok(typeof first.value === "string"); // JSON text (some injected faults are raw bytes)
 * assert.deepEqual(JSON.parse(first.value), {
 *   customer_id: "CUST-001",
 *   timestamp: "2026-01-01T00:00:00.000000Z",
 *   heart_rate: 53, // CUST-001 asleep at midnight UTC
 *   is_anomaly: true, // below 60 bpm: the reference's rule, whatever the customer's normal
 *   reading_id: "019b76da-a800-7bbe-be7a-26fb486ce2e6",
 * });
 * ```
 */
export class Simulator {
  readonly #options: SimulatorOptions;
  readonly #customers: Customer[];
  readonly #faults: Random;
  readonly #startMicros: number;
  readonly #trouble: boolean;
  readonly #shortShare: number;
  /** Messages generated but not yet returned (only with sensor trouble). */
  #queue: SimulatedMessage[] = [];
  #head = 0;
  /** Held (late) messages per customer index. */
  readonly #held: SimulatedMessage[][];
  #slot = 0;
  #seq = 0;

  /** @param options see {@link SimulatorOptions} */
  constructor(options: SimulatorOptions) {
    if (!(options.rate > 0)) {
      throw new RangeError(`Cannot simulate: rate must be above 0: current value is ${options.rate}`);
    }
    if (!Number.isInteger(options.customers) || options.customers < 1) {
      throw new RangeError(
        `Cannot simulate: customers must be a positive integer: current value is ${options.customers}`,
      );
    }
    this.#options = options;
    this.#faults = new Random(options.seed, 0);
    this.#startMicros = Math.round(options.startMs * 1000);
    const sensor = { ...NO_SENSOR_TROUBLE, ...options.sensor };
    this.#trouble = hasTrouble(sensor);
    this.#shortShare = options.shortEpisodeShare ?? 0;
    const zones = options.utcOffsetsMin ?? [0];
    const intervalS = options.customers / options.rate;
    this.#held = Array.from({ length: options.customers }, () => []);
    this.#customers = Array.from({ length: options.customers }, (_, i) => {
      const random = new Random(options.seed, i + 1);
      const profile = drawProfile(random, zones[i % zones.length] ?? 0);
      return {
        id: customerId(i + 1),
        random,
        heart: new Physiology(profile, random, { seed: options.seed, customer: i + 1, intervalS }),
        anomaly: null,
        episode: null,
        lastMs: options.startMs,
        cooldown: 0,
        link: new SensorLink(sensor, new Random(options.seed, -(i + 1))),
      };
    });
  }

  /** Number of messages produced so far. */
  get count(): number {
    return this.#seq;
  }

  /** Each customer's id and profile (age, resting rate, maximum, sleep, time zone). */
  get profiles(): { customerId: string; profile: Profile; clockSkewMs: number }[] {
    return this.#customers.map((c) => ({ customerId: c.id, profile: c.heart.profile, clockSkewMs: c.link.skewMs }));
  }

  /**
   * Whether message number `seq` lies past the end of a run of `count` messages or `durationMs`
   * of simulated time (either may be undefined: no limit). With sensor trouble, messages and
   * reading slots differ (lost, duplicated, held readings): the time is the next slot's.
   */
  isPastEnd(seq: number, count: number | undefined, durationMs: number | undefined): boolean {
    if (count !== undefined && seq >= count) return true;
    const next = this.#trouble && seq === this.#seq ? this.#slot : seq;
    return durationMs !== undefined && this.timeOf(next) - this.#options.startMs >= durationMs;
  }

  /** Simulated time (epoch ms) of message number `seq` (with sensor trouble: of reading slot `seq`). */
  timeOf(seq: number): number {
    return (this.#startMicros + Math.floor(seq * 1e6 / this.#options.rate)) / 1000;
  }

  /** The next message. */
  next(): SimulatedMessage {
    if (!this.#trouble) {
      const m = this.#generate(this.#slot++, null);
      m.seq = this.#seq++;
      return m;
    }
    while (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      this.#generate(this.#slot++, this.#queue);
    }
    const m = this.#queue[this.#head++]!;
    m.seq = this.#seq++;
    return m;
  }

  /** Reports the episodes still open (as ended at their last reading); call once at the end. */
  finish(): void {
    for (const c of this.#customers) {
      if (c.anomaly !== null && c.anomaly.at > 0) this.#report(c, c.anomaly, c.anomaly.at);
      c.anomaly = null;
    }
  }

  #report(c: Customer, a: Anomaly, readings: number): void {
    a.truth.endMs = c.lastMs;
    a.truth.readings = readings;
    this.#options.onEpisode?.(a.truth);
  }

  /**
   * Simulates reading slot `slot`: without sensor trouble, returns its message; with it, pushes
   * what the link delivers in that slot onto `out` (nothing, the reading, it twice, held ones).
   */
  #generate(slot: number, out: SimulatedMessage[] | null): SimulatedMessage {
    const micros = this.#startMicros + Math.floor(slot * 1e6 / this.#options.rate);
    const timeMs = micros / 1000;
    const index = slot % this.#customers.length;
    const c = this.#customers[index]!;
    let heartRate = this.#step(c, timeMs);
    const state = c.heart.state;
    const link = c.link;
    const readingMs = timeMs + link.skewMs;
    const recordedAt = isoMicros(micros + link.skewMs * 1000);
    const readingId = uuidv7(readingMs, c.random);
    const fault = this.#options.invalidRate > 0 && this.#faults.chance(this.#options.invalidRate)
      ? this.#faults.pick(FAULT_KINDS)
      : null;
    const episode = c.episode;
    let mark: SensorMark | null = null;
    let fate: Fate = "sent";
    if (out !== null) {
      fate = link.fate();
      if (fate === "lost") {
        if (episode !== null && episode.at === 1) episode.truth.inGap = true;
        return EMPTY;
      }
      const spike = link.artefact(heartRate);
      if (!Number.isNaN(spike)) (heartRate = spike, mark = "artefact");
      else if (fate === "held") mark = "late";
      else if (link.afterGap) mark = "after_gap";
    }
    let m: SimulatedMessage;
    if (fault !== null) {
      m = {
        seq: 0,
        key: c.id,
        value: this.#faulty(fault, c.id, recordedAt, heartRate, readingId),
        timeMs,
        truth: { valid: false, customerId: c.id, fault, reason: FAULTS[fault] },
      };
    } else {
      const isAnomaly = isAnomalous(heartRate);
      const value = `{"customer_id":"${c.id}","timestamp":"${recordedAt}","heart_rate":${heartRate},` +
        `"is_anomaly":${isAnomaly},"reading_id":"${readingId}"}`;
      m = {
        seq: 0,
        key: c.id,
        value,
        timeMs,
        truth: {
          valid: true,
          customerId: c.id,
          recordedAt,
          heartRate,
          isAnomaly,
          readingId,
          episode: episode?.kind ?? null,
          state,
          sensor: mark,
        },
      };
      if (episode !== null && mark !== "artefact") {
        episode.truth.delivered++;
        if (fate === "held") episode.truth.late = true;
      }
    }
    if (out === null) return m;
    if (fate === "held") {
      this.#held[index]!.push(m);
      return m;
    }
    out.push(m);
    if (link.duplicate()) {
      out.push({ ...m, truth: m.truth.valid ? { ...m.truth, sensor: "duplicate" } : m.truth });
    }
    if (link.release()) {
      for (const h of this.#held[index]!) out.push({ ...h, timeMs });
      this.#held[index] = [];
    }
    return m;
  }

  /** Advances one customer by one reading and returns its heart rate (integer bpm). */
  #step(c: Customer, timeMs: number): number {
    const r = c.random;
    const heart = c.heart;
    const base = heart.level(timeMs);
    if (c.cooldown > 0) c.cooldown--;
    if (
      c.anomaly === null && this.#options.anomalyRate > 0 && r.chance(this.#options.anomalyRate) &&
      c.cooldown === 0 && !heart.active
    ) {
      c.anomaly = this.#startAnomaly(c, heart.calm, timeMs);
    }
    const a = c.anomaly;
    c.episode = a;
    let level = base;
    if (a !== null) {
      const remaining = a.length - a.at;
      const ramp = Math.min(1, (a.at + 1) / a.ramp, remaining / a.ramp);
      level = base + (a.target - base) * ramp;
      a.at++;
      c.lastMs = timeMs;
      if (a.at >= a.length) {
        this.#report(c, a, a.at);
        c.cooldown = EPISODE_COOLDOWN;
        c.anomaly = null;
      }
    }
    const bpm = Math.min(Math.floor(heart.profile.maxBpm), Math.round(level + r.gaussian(0, 0.8)));
    // keep anomaly episodes on the right side of the thresholds even with noise, so truth is exact
    if (a !== null && a.kind === "bradycardia") return Math.max(21, Math.min(58, bpm));
    if (a !== null && a.kind === "tachycardia") return Math.max(102, bpm);
    return bpm;
  }

  /**
   * An anomaly episode, abnormal for this customer at this moment: a bradycardia 18–28 bpm below
   * the current level (and below 50; 21 at the lowest), or a tachycardia 35 bpm or more above it
   * (and above 120), never above the customer's maximum (none when that leaves no room).
   */
  #startAnomaly(c: Customer, base: number, timeMs: number): Anomaly | null {
    const r = c.random, max = Math.floor(c.heart.profile.maxBpm) - 1;
    const kind: EpisodeKind = r.chance(0.5) ? "bradycardia" : "tachycardia";
    const short = this.#shortShare > 0 && r.chance(this.#shortShare);
    const length = short ? r.int(5, 8) : r.int(20, 60);
    const ramp = short ? 1 : r.int(2, 4);
    const target = kind === "bradycardia"
      ? Math.max(21, Math.min(r.int(38, 50), Math.round(base - r.int(18, 28))))
      : Math.min(max, Math.max(r.int(120, 165), Math.round(base + 35)));
    if (kind === "tachycardia" && target < Math.max(105, base + 30)) return null;
    return {
      kind,
      at: 0,
      length,
      ramp,
      target,
      truth: {
        customerId: c.id,
        kind,
        startMs: timeMs,
        endMs: timeMs,
        readings: 0,
        targetBpm: target,
        clockSkewMs: c.link.skewMs,
        delivered: 0,
        asleep: c.heart.state === "asleep",
        inGap: false,
        late: false,
      },
    };
  }

  #faulty(
    fault: FaultKind,
    id: string,
    recordedAt: string,
    heartRate: number,
    readingId: string,
  ): string | Uint8Array {
    const r = this.#faults;
    const body = (fields: Record<string, unknown>) =>
      JSON.stringify({
        customer_id: id,
        timestamp: recordedAt,
        heart_rate: heartRate,
        reading_id: readingId,
        ...fields,
      });
    switch (fault) {
      case "truncated_json": {
        const full = body({});
        return full.slice(0, r.int(1, full.length - 2));
      }
      case "binary_garbage": {
        const bytes = new Uint8Array(r.int(4, 48));
        for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(0, 255);
        bytes[0] = 0xff; // never valid UTF-8, whatever follows
        return bytes;
      }
      case "empty_payload":
        return "";
      case "json_array":
        return JSON.stringify([id, recordedAt, heartRate]);
      case "missing_heart_rate": {
        return JSON.stringify({ customer_id: id, timestamp: recordedAt, reading_id: readingId });
      }
      case "missing_timestamp":
        return JSON.stringify({ customer_id: id, heart_rate: heartRate, reading_id: readingId });
      case "null_heart_rate":
        return body({ heart_rate: null });
      case "heart_rate_as_string":
        return body({ heart_rate: String(heartRate) });
      case "heart_rate_out_of_range":
        return body({ heart_rate: r.pick([-5, 0, 5, 12, 301, 350, 1000]) });
      case "unparsable_timestamp":
        return body({
          timestamp: r.pick([
            "not a date",
            "25/11/2026 19:57:57",
            "2026-13-01T00:00:00Z",
            "2026-02-30T10:00:00Z",
            "1700000000",
          ]),
        });
      case "timestamp_without_zone":
        return body({ timestamp: recordedAt.slice(0, -1) });
      case "timestamp_in_future": {
        // ten years on; 29 February becomes the 28th, as that later year is not a leap year
        const later = `${Number(recordedAt.slice(0, 4)) + 10}${recordedAt.slice(4)}`;
        return body({ timestamp: later.replace("-02-29T", "-02-28T") });
      }
      case "bad_customer_id":
        return body({
          customer_id: r.pick(["", "CUST-001'; DROP TABLE readings;--", "CUST 001", "C".repeat(65), "CUST-\u0000-1"]),
        });
      case "oversize_payload":
        return body({ padding: "x".repeat(32_768) });
      case "duplicate_key":
        return `{"customer_id":"${id}","customer_id":"${id}","timestamp":"${recordedAt}","heart_rate":${heartRate}}`;
    }
  }
}
