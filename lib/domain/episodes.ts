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
import { type EpisodeKind, type Severity, severityOf, sideOf } from "./heart_rate.ts";

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
}

/** What {@link CustomerDetector.feed} returns for the (many) readings that cause no event. */
const NO_EVENTS: readonly AlertEvent[] = Object.freeze([]);

/**
 * The detector of one customer. Feed it that customer's readings in time order; older or equal
 * timestamps than the last one fed are ignored (a redelivery), so feeding twice changes nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CustomerDetector } from "./episodes.ts";
 * const d = new CustomerDetector("CUST-001");
 * const events = [120, 125, 130, 128, 131].flatMap((hr, i) =>
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
  #lastAtMs = -Infinity;
  #run: Run | null = null;
  #open: Alert | null = null;

  /** @param customerId the customer; @param settings detection settings */
  constructor(customerId: string, settings: DetectorSettings = DEFAULT_DETECTOR) {
    this.customerId = customerId;
    this.#s = settings;
  }

  /** The open episode, if any. */
  get open(): Alert | null {
    return this.#open;
  }

  /** Epoch ms of the last reading fed. */
  get lastAtMs(): number {
    return this.#lastAtMs;
  }

  /** Feeds one reading; returns the events it causes (usually none). */
  feed(beat: Beat): readonly AlertEvent[] {
    if (beat.atMs <= this.#lastAtMs) return NO_EVENTS;
    this.#lastAtMs = beat.atMs;
    const side = sideOf(beat.heartRate);
    // most readings cause nothing: no array for them (this runs for every reading)
    let events: AlertEvent[] | undefined;
    const open = this.#open;
    if (open !== null) {
      if (side === open.kind) {
        this.#run!.gap = 0;
        open.readings++;
        open.lastAt = beat.at;
        open.lastAtMs = beat.atMs;
        open.peak = open.kind === "bradycardia"
          ? Math.min(open.peak, beat.heartRate)
          : Math.max(open.peak, beat.heartRate);
        open.severity = severityOf(open.kind, open.peak);
        return events ?? NO_EVENTS;
      }
      if (++this.#run!.gap < this.#s.endAfterNormal) return events ?? NO_EVENTS;
      open.endedAt = open.lastAt;
      open.closedAt = beat.at;
      events = [{ type: "close", alert: { ...open } }];
      this.#open = null;
      this.#run = null;
      if (side === null) return events ?? NO_EVENTS;
      // an opposite-side reading ended it: it may start a run of its own below
    }
    const run = this.#run;
    if (side === null) {
      if (run !== null && ++run.gap >= this.#s.endAfterNormal) this.#run = null;
      return events ?? NO_EVENTS;
    }
    if (run === null || run.kind !== side) {
      this.#run = { kind: side, start: beat, last: beat, count: 1, peak: beat.heartRate, gap: 0 };
    } else {
      run.count++;
      run.gap = 0;
      run.last = beat;
      run.peak = side === "bradycardia" ? Math.min(run.peak, beat.heartRate) : Math.max(run.peak, beat.heartRate);
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
  return (settings.minReadings + settings.endAfterNormal) * 4;
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
  /** Stored readings to replay, oldest first: since the open alert started, or a recent window. */
  beats: Beat[];
}

/** Where the tracker rebuilds state from (the repository). */
export interface EpisodeStore {
  /**
   * For each customer, the history before `before` (ISO): its open alert, and the readings since
   * that alert started or else the last `windowReadings` readings and those within `windowMs`.
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
        const detector = new CustomerDetector(customerId, this.#settings);
        for (const beat of history.get(customerId)?.beats ?? []) detector.feed(beat);
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
