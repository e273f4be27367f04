/**
 * Sustained-episode detection. The thresholds and the classification of single readings are in
 * `heart_rate.ts`.
 *
 * An **episode** is a run of readings on one side of the normal range (low: below 60, high:
 * above 100) that lasts at least `minReadings` readings and `minDurationMs`. Single noisy readings
 * are tolerated: a run (and an open episode) only ends after `endAfterNormal` consecutive readings
 * that are not on its side. Detection is a pure function of each customer's reading sequence, so
 * replaying the same readings gives the same episodes with the same `startedAt`: that is what makes
 * state rebuildable after a restart and alerts idempotent after a redelivery.
 *
 * @module
 */
import { CRITICAL_HIGH_ABOVE_BPM, type EpisodeKind, type Severity, severityOf, sideOf } from "./heart_rate.ts";

/** Detection settings. */
export interface DetectorSettings {
  /** Consecutive abnormal readings (noise gaps allowed) before an episode opens. */
  minReadings: number;
  /** Least time from the first abnormal reading to the one that opens the episode, ms. */
  minDurationMs: number;
  /** Consecutive readings off the episode's side that end it (so shorter gaps are tolerated). */
  endAfterNormal: number;
}

/** Defaults: 5 readings over at least 3 s; 3 normal readings end an episode. */
export const DEFAULT_DETECTOR: Readonly<DetectorSettings> = Object.freeze({
  minReadings: 5,
  minDurationMs: 3_000,
  endAfterNormal: 3,
});

/** One reading as the detector needs it. */
export interface Beat {
  /** Epoch ms of the reading. */
  atMs: number;
  /** The reading's ISO timestamp (as stored). */
  at: string;
  /** bpm. */
  heartRate: number;
}

/** An episode, open or closed: one row of the `alerts` table. */
export interface Alert {
  /** Customer. */
  customerId: string;
  /** Low or high. */
  kind: EpisodeKind;
  /** Timestamp of its first abnormal reading: with customer and kind, the alert's identity. */
  startedAt: string;
  /** `startedAt` in epoch ms. */
  startedAtMs: number;
  /** Timestamp of the reading that opened it (detection time, in reading time). */
  openedAt: string;
  /** `openedAt` in epoch ms. */
  openedAtMs: number;
  /** Timestamp of its last abnormal reading so far. */
  lastAt: string;
  /** `lastAt` in epoch ms. */
  lastAtMs: number;
  /** Timestamp of its last abnormal reading once it ended, else null. */
  endedAt: string | null;
  /** Timestamp of the reading that ended it (the last of the normal ones), else null. */
  closedAt: string | null;
  /** Lowest (bradycardia) or highest (tachycardia) bpm. */
  peak: number;
  /** Abnormal readings in it. */
  readings: number;
  /** Warning, or critical when the peak crossed a critical threshold. */
  severity: Severity;
}

/** What the detector says after a reading. */
export interface AlertEvent {
  /** `open` when an episode is detected, `close` when it ends. */
  type: "open" | "close";
  /** The alert as of this event. */
  alert: Alert;
}

interface Run {
  kind: EpisodeKind;
  start: Beat;
  last: Beat;
  count: number;
  peak: number;
  gap: number;
  /** The customer's baseline when the run started: readings are judged against it. */
  reference: number;
}

/** What {@link CustomerDetector.feed} returns for the (many) readings that cause no event. */
const NO_EVENTS: readonly AlertEvent[] = Object.freeze([]);

/**
 * Readings in the customer's recent baseline: the median of their last this many readings. A
 * baseline that follows the customer is what tells a sleeping athlete at 45 bpm (normal for them)
 * from a sudden fall to 45 bpm (not), and an exercise climb (gradual, followed) from a sudden
 * tachycardia (too fast to follow).
 */
export const BASELINE_READINGS = 15;
/**
 * Readings in the customer's long baseline: the median of their last this many readings, which an
 * episode of up to half as many readings does not move, so that the return from a long episode to
 * the customer's normal is not taken for an episode the other way.
 */
export const LONG_BASELINE_READINGS = 181;
/**
 * Readings (at the customer's usual interval) within which an alert of a late lane and one of the
 * detector's own, of the same kind, are taken for one episode: the part delivered late and the
 * part seen in time.
 */
export const LATE_MERGE_READINGS = 90;
/** How far below the customer's baselines a reading under 60 bpm must be to count as bradycardia, bpm. */
export const BRADYCARDIA_MARGIN_BPM = 12;
/** How far above the customer's baselines a reading over 100 bpm must be to count as tachycardia, bpm. */
export const TACHYCARDIA_MARGIN_BPM = 20;

/** Highest bpm a baseline counts (the validator's upper bound); readings are counted in whole bpm. */
const TOP_BPM = 300;

/**
 * The median of the last `size` readings (an odd number), in whole bpm: a count per bpm and the
 * median's bin, which moves by a bin or two as readings come and go, so a reading costs the same
 * whatever the window's size.
 */
class Median {
  readonly #size: number;
  #ring: Uint16Array;
  #counts: Uint8Array;
  #n = 0;
  #next = 0;
  /** The median's bin, and how many readings lie in bins below it. */
  #at = 0;
  #below = 0;

  constructor(size: number) {
    if (size % 2 === 0 || size > 255) {
      throw new RangeError(`Cannot keep a median of ${size} readings: expected an odd number up to 255`);
    }
    this.#size = size;
    this.#ring = new Uint16Array(size);
    this.#counts = new Uint8Array(TOP_BPM + 1);
  }

  /** A copy that goes on independently. */
  clone(): Median {
    const m = new Median(this.#size);
    m.#ring = this.#ring.slice();
    m.#counts = this.#counts.slice();
    m.#n = this.#n;
    m.#next = this.#next;
    m.#at = this.#at;
    m.#below = this.#below;
    return m;
  }

  /** Readings in it (at most its size). */
  get count(): number {
    return this.#n;
  }

  /** The median (the lower of the two middle ones while the count is even), or NaN before the first reading. */
  get value(): number {
    return this.#n === 0 ? Number.NaN : this.#at;
  }

  add(x: number): void {
    const bin = Math.min(TOP_BPM, Math.max(0, Math.round(x)));
    if (this.#n === this.#size) {
      const out = this.#ring[this.#next]!;
      this.#counts[out]!--;
      if (out < this.#at) this.#below--;
    } else {
      this.#n++;
    }
    this.#ring[this.#next] = bin;
    this.#next = (this.#next + 1) % this.#size;
    this.#counts[bin]!++;
    if (bin < this.#at) this.#below++;
    // move to the bin holding the reading of rank (n - 1) / 2
    const k = (this.#n - 1) >> 1, counts = this.#counts;
    while (this.#below > k) this.#below -= counts[--this.#at]!;
    while (this.#below + counts[this.#at]! <= k) this.#below += counts[this.#at++]!;
  }
}

/**
 * Whether a reading is critically high (over 150 bpm): abnormal for anyone, whatever their
 * baseline, and counted while the baselines are still learning, so that a customer whose stream
 * begins in a critical tachycardia, or whose baseline climbed there, is still alerted on (the
 * persistence rules still apply: a lone spike opens nothing). The low side has no such floor: a
 * trained heart asleep goes under 40 bpm and is normal for its owner, so a reading under 40 is
 * judged against the customer's baselines like any other (measured: a floor there too raised
 * 355 false alerts on normal sleep in the easy mix of `deno task bench:episodes`, precision 0.90).
 */
export function isCritical(heartRate: number): boolean {
  return heartRate > CRITICAL_HIGH_ABOVE_BPM;
}

/**
 * Which side of the normal range `heartRate` is on for a customer whose baseline is `reference`:
 * outside 60–100 bpm and by the margin beyond the baseline, or critically high
 * ({@link isCritical}) whatever the baseline. Null when it is not abnormal for this customer, or
 * when there is no baseline yet (the customer's first reading) and it is not critical.
 */
function deviation(heartRate: number, reference: number): EpisodeKind | null {
  const side = sideOf(heartRate);
  if (side === null) return null;
  if (isCritical(heartRate)) return side;
  if (Number.isNaN(reference)) return null;
  if (side === "bradycardia") return reference - heartRate >= BRADYCARDIA_MARGIN_BPM ? side : null;
  return heartRate - reference >= TACHYCARDIA_MARGIN_BPM ? side : null;
}

/**
 * The detector of one customer. Feed it that customer's readings in time order; older or equal
 * timestamps than the last one fed are ignored (a redelivery), so feeding twice changes nothing.
 *
 * A reading is abnormal for the customer when it is outside 60–100 bpm **and** at least
 * {@link BRADYCARDIA_MARGIN_BPM} below or {@link TACHYCARDIA_MARGIN_BPM} above the customer's
 * baselines: the medians of their last {@link BASELINE_READINGS} and {@link LONG_BASELINE_READINGS}
 * readings.
 * A run of abnormal readings on one side opens an episode once it has `minReadings` readings over
 * `minDurationMs` (so spikes of a few readings, motion artefacts, never open one); the episode
 * lasts while readings stay abnormal against the baseline of its first reading and ends after `endAfterNormal`
 * that are not. While an episode is open, readings on the other side of the range are taken for
 * artefacts and skipped. The first {@link LONG_BASELINE_READINGS} readings only train the baselines.
 * The state is a function of the last readings fed (a bounded window, see {@link replayWindow}),
 * so it can be rebuilt after a restart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CustomerDetector } from "./episodes.ts";
 * const d = new CustomerDetector("CUST-001");
 * const rates = [...Array(200).fill(72), 120, 125, 130, 128, 131]; // 200 s at 72 bpm train the baselines
 * const events = rates.flatMap((hr, i) =>
 *   d.feed({ atMs: i * 1000, at: new Date(i * 1000).toISOString(), heartRate: hr })
 * );
 * assert.equal(events.length, 1); // the fifth fast reading opens an episode
 * assert.equal(events[0]?.type, "open");
 * assert.equal(events[0]?.alert.kind, "tachycardia");
 * assert.equal(events[0]?.alert.peak, 131);
 * ```
 */
export class CustomerDetector {
  readonly customerId: string;
  readonly #s: DetectorSettings;
  #recent = new Median(BASELINE_READINGS);
  #long = new Median(LONG_BASELINE_READINGS);
  /** Whether this is a late lane (it takes no late readings itself). */
  #isLate = false;
  /** The lane of readings delivered late (older than the last one fed), while they keep coming. */
  #late: CustomerDetector | null = null;
  /** Whether the late lane's episode is one this detector already alerted on. */
  #lateSuppressed = false;
  /** Readings in time order since the late lane started. */
  #lateAge = 0;
  /** This detector's latest alerts: kind, first and last abnormal reading (Infinity while open). */
  readonly #recentAlerts: { kind: EpisodeKind; startMs: number; endMs: number }[] = [];
  /** Typical time between the customer's readings, ms (NaN before the second). */
  #intervalMs = Number.NaN;
  #lastAtMs = -Infinity;
  #seen = 0;
  readonly #learn: number;
  #run: Run | null = null;
  #open: Alert | null = null;

  /**
   * @param customerId the customer
   * @param settings detection settings
   * @param learnReadings readings that only train the baselines before any is judged (default
   *   {@link LONG_BASELINE_READINGS}: a customer's first readings, or the start of a replayed
   *   window, are judged on no baseline that is not whole)
   */
  constructor(
    customerId: string,
    settings: DetectorSettings = DEFAULT_DETECTOR,
    learnReadings = LONG_BASELINE_READINGS,
  ) {
    this.customerId = customerId;
    this.#s = settings;
    this.#learn = learnReadings;
  }

  /** The open episode, if any. */
  get open(): Alert | null {
    return this.#open;
  }

  /** Epoch ms of the last reading fed. */
  get lastAtMs(): number {
    return this.#lastAtMs;
  }

  /** The customer's recent baseline now (median of the last readings), bpm; NaN before any reading. */
  get baseline(): number {
    return this.#recent.value;
  }

  /**
   * Feeds one reading; returns the events it causes (usually none). A reading older than the last
   * one fed goes to a late lane: a copy of this detector (baselines as they are now) that follows
   * the readings delivered late while they keep coming, so that an episode whose readings all
   * arrive late is still detected; its alert is dropped when this detector already alerted on that
   * episode (the part after the delay), and closed, if still open, {@link LATE_MERGE_READINGS}
   * readings in time order later.
   */
  feed(beat: Beat): readonly AlertEvent[] {
    if (beat.atMs <= this.#lastAtMs) return this.#isLate ? NO_EVENTS : this.#feedLate(beat);
    if (Number.isFinite(this.#lastAtMs)) {
      // gaps (lost readings) count as at most twice the usual interval
      const gap = Math.min(beat.atMs - this.#lastAtMs, 2 * this.#intervalMs);
      this.#intervalMs = Number.isNaN(this.#intervalMs)
        ? beat.atMs - this.#lastAtMs
        : 0.9 * this.#intervalMs + 0.1 * gap;
    }
    let closed: readonly AlertEvent[] = NO_EVENTS;
    // a late lane lives on while its burst may still be arriving (it may come in several batches)
    if (this.#late !== null && ++this.#lateAge > LATE_MERGE_READINGS) {
      closed = this.#lateSuppressed ? NO_EVENTS : this.#late.#closeAt(beat);
      this.#late = null;
    }
    const events = this.#feedInOrder(beat);
    for (const e of events) this.#remember(e);
    return closed.length === 0 ? events : [...closed, ...events];
  }

  /** Feeds a late reading to the late lane. */
  #feedLate(beat: Beat): readonly AlertEvent[] {
    let late = this.#late;
    if (late === null || beat.atMs <= late.#lastAtMs) {
      // a new burst of late readings: a lane that judges them on the baselines as they are now
      late = this.#late = new CustomerDetector(this.customerId, this.#s, 0);
      late.#isLate = true;
      late.#recent = this.#recent.clone();
      late.#long = this.#long.clone();
      late.#seen = this.#seen;
      this.#lateSuppressed = false;
      this.#lateAge = 0;
    }
    const events = late.feed(beat);
    if (this.#lateSuppressed) return NO_EVENTS;
    const opened = events.find((e) => e.type === "open");
    if (opened !== undefined && this.#alerted(opened.alert)) {
      this.#lateSuppressed = true;
      return NO_EVENTS;
    }
    return events;
  }

  /** Whether this detector alerted on the episode a late lane's alert belongs to. */
  #alerted(a: Alert): boolean {
    const slack = (Number.isNaN(this.#intervalMs) ? 1000 : this.#intervalMs) * LATE_MERGE_READINGS;
    // the part of the episode after the late readings (up to the slack later), the part before
    // them (ended up to a few readings earlier), or the same readings delivered again
    const before = (slack / LATE_MERGE_READINGS) * (this.#s.endAfterNormal + 2);
    return this.#recentAlerts.some((r) =>
      r.kind === a.kind && r.startMs <= a.lastAtMs + slack && r.endMs >= a.startedAtMs - before
    );
  }

  #remember(e: AlertEvent): void {
    const a = e.alert;
    if (e.type === "open") {
      this.#recentAlerts.push({ kind: a.kind, startMs: a.startedAtMs, endMs: Infinity });
      if (this.#recentAlerts.length > 8) this.#recentAlerts.shift();
    } else {
      const r = this.#recentAlerts.findLast((x) => x.startMs === a.startedAtMs && x.kind === a.kind);
      if (r !== undefined) r.endMs = a.lastAtMs;
    }
  }

  /** Closes the open episode (a late lane's, when readings in time order resume at `beat`). */
  #closeAt(beat: Beat): readonly AlertEvent[] {
    const open = this.#open;
    if (open === null) return NO_EVENTS;
    open.endedAt = open.lastAt;
    open.closedAt = beat.at;
    this.#open = null;
    this.#run = null;
    return [{ type: "close", alert: { ...open } }];
  }

  #feedInOrder(beat: Beat): readonly AlertEvent[] {
    this.#lastAtMs = beat.atMs;
    const hr = beat.heartRate;
    const baseline = this.#recent.value;
    this.#seen++;
    // a critically high reading is never anybody's normal: it stays out of the baselines, so that
    // an episode there cannot make the return from it look abnormal
    if (!isCritical(hr)) {
      this.#recent.add(hr);
      this.#long.add(hr);
    }
    // most readings cause nothing: no array for them (this runs for every reading)
    let events: AlertEvent[] | undefined;
    const open = this.#open;
    if (open !== null) {
      const run = this.#run!;
      const side = deviation(hr, run.reference);
      if (side === open.kind) {
        run.gap = 0;
        open.readings++;
        open.lastAt = beat.at;
        open.lastAtMs = beat.atMs;
        open.peak = open.kind === "bradycardia" ? Math.min(open.peak, hr) : Math.max(open.peak, hr);
        open.severity = severityOf(open.kind, open.peak);
        return NO_EVENTS;
      }
      // abnormal on the other side during an episode: an artefact, not the end of it
      if (side !== null) return NO_EVENTS;
      if (++run.gap < this.#s.endAfterNormal) return NO_EVENTS;
      open.endedAt = open.lastAt;
      open.closedAt = beat.at;
      events = [{ type: "close", alert: { ...open } }];
      this.#open = null;
      this.#run = null;
      return events;
    }
    const run = this.#run;
    // before an episode opens, a reading is judged against the baseline of its run's first reading
    // (or the baseline now, for a first; no run starts before the long baseline is whole), and
    // also against both baselines as they are now: the recent one follows a gradual climb
    // (exercise), the long one the customer's normal
    let side = this.#seen > this.#learn || isCritical(hr)
      ? deviation(hr, run !== null && run.kind === sideOf(hr) ? run.reference : baseline)
      : null;
    if (side !== null && run !== null) side = deviation(hr, baseline);
    if (side !== null) side = deviation(hr, this.#long.value);
    if (side === null) {
      if (run !== null && ++run.gap >= this.#s.endAfterNormal) this.#run = null;
      return NO_EVENTS;
    }
    if (run === null || run.kind !== side) {
      this.#run = { kind: side, start: beat, last: beat, count: 1, peak: hr, gap: 0, reference: baseline };
    } else {
      run.count++;
      run.gap = 0;
      run.last = beat;
      run.peak = side === "bradycardia" ? Math.min(run.peak, hr) : Math.max(run.peak, hr);
    }
    const r = this.#run!;
    if (r.count >= this.#s.minReadings && beat.atMs - r.start.atMs >= this.#s.minDurationMs) {
      this.#open = {
        customerId: this.customerId,
        kind: r.kind,
        startedAt: r.start.at,
        startedAtMs: r.start.atMs,
        openedAt: beat.at,
        openedAtMs: beat.atMs,
        lastAt: beat.at,
        lastAtMs: beat.atMs,
        endedAt: null,
        closedAt: null,
        peak: r.peak,
        readings: r.count,
        severity: severityOf(r.kind, r.peak),
      };
      (events ??= []).push({ type: "open", alert: { ...this.#open } });
    }
    return events ?? NO_EVENTS;
  }
}

/** How many readings before a batch are replayed to rebuild a customer's state (with no open episode). */
export function replayWindow(settings: DetectorSettings): number {
  return (settings.minReadings + settings.endAfterNormal) * 4 + LONG_BASELINE_READINGS;
}

/** A valid reading as the tracker needs it. */
export interface TrackedReading {
  /** Customer. */
  customerId: string;
  /** ISO timestamp as stored. */
  recordedAt: string;
  /** Epoch ms. */
  recordedAtMs: number;
  /** bpm. */
  heartRate: number;
}

/** What a customer's detector is rebuilt from. */
export interface CustomerHistory {
  /** The customer's alert that was open at the batch's first reading (it may have closed since). */
  open: Alert | null;
  /**
   * Stored readings to replay, oldest first: since the open alert started and the long baseline's
   * window before it, or a recent window.
   */
  beats: Beat[];
}

/** Where the tracker rebuilds state from (the repository). */
export interface EpisodeStore {
  /**
   * For each customer, the history before `before` (ISO): its open alert, and the readings since
   * that alert started with the {@link LONG_BASELINE_READINGS} before it, or else the last
   * `windowReadings` readings and those within `windowMs`.
   */
  loadHistory(
    customers: { customerId: string; before: string }[],
    windowReadings: number,
    windowMs: number,
  ): Promise<Map<string, CustomerHistory>>;
}

/** The result of {@link EpisodeTracker.process}: rows to upsert and events to publish. */
export interface TrackResult {
  /** Every alert the batch opened, extended or closed, as it stands after the batch. */
  alerts: Alert[];
  /** Open and close events, in reading order per customer. */
  events: AlertEvent[];
}

/**
 * Runs one detector per customer over batches of readings, rebuilding a customer's state from the
 * database the first time it is seen (after a start or a rebalance), so that episodes continue
 * across restarts and a redelivered batch yields the same alerts (same identity) again.
 */
export class EpisodeTracker {
  readonly #store: EpisodeStore;
  readonly #settings: DetectorSettings;
  readonly #detectors = new Map<string, CustomerDetector>();
  #resetPending = false;

  /** @param store where history comes from; @param settings detection settings */
  constructor(store: EpisodeStore, settings: DetectorSettings = DEFAULT_DETECTOR) {
    this.#store = store;
    this.#settings = settings;
  }

  /**
   * Forgets every customer's state (after a rebalance), from the next batch on: it is rebuilt
   * from the database. Safe to call while a batch is being processed.
   */
  reset(): void {
    this.#resetPending = true;
  }

  /** Customers with state in memory. */
  get customers(): number {
    return this.#detectors.size;
  }

  /** Feeds a batch of valid readings (any order); returns the alerts to upsert and the events. */
  async process(readings: readonly TrackedReading[]): Promise<TrackResult> {
    if (this.#resetPending) {
      this.#detectors.clear();
      this.#resetPending = false;
    }
    const byCustomer = new Map<string, TrackedReading[]>();
    for (const r of readings) {
      const list = byCustomer.get(r.customerId);
      if (list === undefined) byCustomer.set(r.customerId, [r]);
      else list.push(r);
    }
    const unknown: { customerId: string; before: string }[] = [];
    for (const [customerId, list] of byCustomer) {
      list.sort((a, b) => a.recordedAtMs - b.recordedAtMs);
      if (!this.#detectors.has(customerId)) unknown.push({ customerId, before: list[0]!.recordedAt });
    }
    if (unknown.length > 0) {
      const history = await this.#store.loadHistory(
        unknown,
        replayWindow(this.#settings),
        this.#settings.minDurationMs * 2,
      );
      for (const { customerId } of unknown) {
        const beats = history.get(customerId)?.beats ?? [];
        const detector = new CustomerDetector(customerId, this.#settings);
        for (const beat of beats) detector.feed(beat);
        this.#detectors.set(customerId, detector);
      }
    }
    const alerts: Alert[] = [];
    const events: AlertEvent[] = [];
    for (const [customerId, list] of byCustomer) {
      const detector = this.#detectors.get(customerId)!;
      let touched: Map<string, Alert> | undefined; // most customers have no episode: no map for them
      for (const r of list) {
        const before = detector.open;
        for (const e of detector.feed({ atMs: r.recordedAtMs, at: r.recordedAt, heartRate: r.heartRate })) {
          events.push(e);
          (touched ??= new Map()).set(e.alert.startedAt + e.alert.kind, e.alert);
        }
        if (before !== null && detector.open === before) {
          (touched ??= new Map()).set(before.startedAt + before.kind, { ...before });
        }
      }
      if (touched === undefined) continue;
      const open = detector.open;
      if (open !== null && touched.has(open.startedAt + open.kind)) {
        touched.set(open.startedAt + open.kind, { ...open });
      }
      alerts.push(...touched.values());
    }
    return { alerts, events };
  }
}
