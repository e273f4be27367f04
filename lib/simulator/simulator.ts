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
import { Random, uuidv7 } from "./random.ts";

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
  /** Simulated time of its first reading, epoch ms. */
  startMs: number;
  /** Simulated time of its last reading, epoch ms. */
  endMs: number;
  /** Number of the customer's readings inside the episode (ramps included). */
  readings: number;
  /** The heart rate the episode aimed at, bpm. */
  targetBpm: number;
}

/** What a correct consumer must do with a simulated message. */
export type Truth =
  | {
    valid: true;
    customerId: string;
    /** Normalised timestamp as the consumer stores it (UTC, microseconds). */
    recordedAt: string;
    heartRate: number;
    isAnomaly: boolean;
    readingId: string;
    /** The injected episode this reading belongs to, if any. */
    episode: EpisodeKind | null;
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
  /** Simulated time of the reading, epoch ms. */
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
  /** Called with each anomaly episode when it ends (or when {@link Simulator.finish} runs). */
  onEpisode?: (episode: Episode) => void;
}

interface Activity {
  kind: "activity" | EpisodeKind;
  /** readings elapsed, total length, ramp length */
  at: number;
  length: number;
  ramp: number;
  target: number;
  startMs: number;
}

interface Customer {
  id: string;
  random: Random;
  resting: number;
  driftPeriod: number;
  driftPhase: number;
  walk: number;
  step: number;
  activity: Activity | null;
  /** The anomaly episode the latest reading belongs to (still set on an episode's last reading). */
  episode: EpisodeKind | null;
  lastMs: number;
  /** Readings left before another anomaly episode may start (a heart does not flap). */
  cooldown: number;
}

/** Readings after an anomaly episode before another may start, so that episodes stay distinct. */
const EPISODE_COOLDOWN = 30;

/** Activity: light exercise, kept under the anomaly threshold (it is not an anomaly). */
const ACTIVITY_CHANCE = 0.002;

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
 *   heart_rate: 66,
 *   is_anomaly: false,
 *   reading_id: "019b76da-a800-7f63-9842-42c1b6a5575b",
 * });
 * ```
 */
export class Simulator {
  readonly #options: SimulatorOptions;
  readonly #customers: Customer[];
  readonly #faults: Random;
  readonly #startMicros: number;
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
    this.#customers = Array.from({ length: options.customers }, (_, i) => {
      const random = new Random(options.seed, i + 1);
      return {
        id: customerId(i + 1),
        random,
        resting: Math.min(80, Math.max(63, random.gaussian(70, 5))),
        driftPeriod: random.uniform(600, 3600),
        driftPhase: random.uniform(0, 2 * Math.PI),
        walk: 0,
        step: 0,
        activity: null,
        episode: null,
        lastMs: options.startMs,
        cooldown: 0,
      };
    });
  }

  /** Number of messages produced so far. */
  get count(): number {
    return this.#seq;
  }

  /**
   * Whether message number `seq` lies past the end of a run of `count` messages or `durationMs`
   * of simulated time (either may be undefined: no limit).
   */
  isPastEnd(seq: number, count: number | undefined, durationMs: number | undefined): boolean {
    if (count !== undefined && seq >= count) return true;
    return durationMs !== undefined && this.timeOf(seq) - this.#options.startMs >= durationMs;
  }

  /** Simulated time (epoch ms) of message number `seq`. */
  timeOf(seq: number): number {
    return (this.#startMicros + Math.floor(seq * 1e6 / this.#options.rate)) / 1000;
  }

  /** The next message. */
  next(): SimulatedMessage {
    const seq = this.#seq++;
    const micros = this.#startMicros + Math.floor(seq * 1e6 / this.#options.rate);
    const timeMs = micros / 1000;
    const c = this.#customers[seq % this.#customers.length]!;
    const heartRate = this.#step(c, timeMs);
    const recordedAt = isoMicros(micros);
    const readingId = uuidv7(timeMs, c.random);
    const isAnomaly = isAnomalous(heartRate);
    const fault = this.#options.invalidRate > 0 && this.#faults.chance(this.#options.invalidRate)
      ? this.#faults.pick(FAULT_KINDS)
      : null;
    if (fault !== null) {
      return {
        seq,
        key: c.id,
        value: this.#faulty(fault, c.id, recordedAt, heartRate, readingId),
        timeMs,
        truth: { valid: false, customerId: c.id, fault, reason: FAULTS[fault] },
      };
    }
    const value = `{"customer_id":"${c.id}","timestamp":"${recordedAt}","heart_rate":${heartRate},` +
      `"is_anomaly":${isAnomaly},"reading_id":"${readingId}"}`;
    const episode = c.episode;
    return {
      seq,
      key: c.id,
      value,
      timeMs,
      truth: { valid: true, customerId: c.id, recordedAt, heartRate, isAnomaly, readingId, episode },
    };
  }

  /** Reports the episodes still open (as ended at their last reading); call once at the end. */
  finish(): void {
    for (const c of this.#customers) {
      if (c.activity !== null && c.activity.kind !== "activity" && c.activity.at > 0) {
        this.#report(c, c.activity, c.activity.at);
      }
      c.activity = null;
    }
  }

  #report(c: Customer, a: Activity, readings: number): void {
    if (a.kind === "activity") return;
    this.#options.onEpisode?.({
      customerId: c.id,
      kind: a.kind,
      startMs: a.startMs,
      endMs: c.lastMs,
      readings,
      targetBpm: a.target,
    });
  }

  /** Advances one customer by one reading and returns its heart rate (integer bpm). */
  #step(c: Customer, timeMs: number): number {
    const r = c.random;
    c.step++;
    // slow drift: a sinusoid over the customer's day plus a mean-reverting random walk
    c.walk += -0.02 * c.walk + r.gaussian(0, 0.25);
    c.walk = Math.max(-4, Math.min(4, c.walk));
    const drift = 2 * Math.sin(c.driftPhase + (2 * Math.PI * c.step) / c.driftPeriod) + c.walk;
    // the resting level never drifts into bradycardia: only injected episodes are anomalies, so
    // the ground truth is exact (noise alone crosses 60 bpm rarely, and only for single readings)
    const base = Math.max(65, c.resting + drift);

    if (c.cooldown > 0) c.cooldown--;
    if (c.activity === null) {
      if (this.#options.anomalyRate > 0 && r.chance(this.#options.anomalyRate) && c.cooldown === 0) {
        const kind: EpisodeKind = r.chance(0.5) ? "bradycardia" : "tachycardia";
        c.activity = {
          kind,
          at: 0,
          length: r.int(20, 60),
          ramp: r.int(2, 4),
          target: kind === "bradycardia" ? r.int(38, 50) : r.int(120, 165),
          startMs: timeMs,
        };
      } else if (r.chance(ACTIVITY_CHANCE)) {
        c.activity = {
          kind: "activity",
          at: 0,
          length: r.int(60, 300),
          ramp: r.int(15, 30),
          target: Math.min(95, base + r.uniform(10, 22)),
          startMs: timeMs,
        };
      }
    }
    let level = base;
    const a = c.activity;
    c.episode = a !== null && a.kind !== "activity" ? a.kind : null;
    if (a !== null) {
      if (a.at === 0) a.startMs = timeMs;
      const remaining = a.length - a.at;
      const ramp = Math.min(1, (a.at + 1) / a.ramp, remaining / a.ramp);
      level = base + (a.target - base) * ramp;
      a.at++;
      c.lastMs = timeMs;
      if (a.at >= a.length) {
        this.#report(c, a, a.at);
        if (a.kind !== "activity") c.cooldown = EPISODE_COOLDOWN;
        c.activity = null;
      }
    }
    const noisy = level + r.gaussian(0, 1.2);
    // keep anomaly episodes on the right side of the thresholds even with noise, so truth is exact
    if (a !== null && a.kind === "bradycardia") return Math.min(58, Math.round(noisy));
    if (a !== null && a.kind === "tachycardia") return Math.max(102, Math.round(noisy));
    return Math.round(noisy);
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
