/**
 * What the consumer says about its batches: running totals (for the progress line and the last
 * log line) and one log line per opened or closed alert.
 *
 * @module
 */
import type { Logger } from "../ops/log.ts";
import { formatCount, formatDuration } from "../ops/progress.ts";
import type { BatchStats } from "./sink.ts";

/** Running totals of committed batches. */
export class BatchTotals {
  records = 0;
  inserted = 0;
  duplicates = 0;
  rejected = 0;
  batches = 0;
  alertEvents = 0;
  readonly #began = performance.now();

  /** Adds a committed batch. */
  add(b: BatchStats): void {
    this.records += b.records;
    this.inserted += b.inserted;
    this.duplicates += b.duplicates;
    this.rejected += b.rejected;
    this.batches++;
    this.alertEvents += b.events.length;
  }

  /** Seconds since the totals began. */
  get elapsedS(): number {
    return (performance.now() - this.#began) / 1000;
  }

  /** The totals as log fields. */
  fields(): Record<string, number> {
    const { records, inserted, duplicates, rejected, batches, alertEvents } = this;
    return { records, inserted, duplicates, rejected, batches, alertEvents };
  }

  /** The progress line and its fields, with `extra` fields (e.g. readiness). */
  status(extra: Record<string, unknown> = {}): { line: string; fields: Record<string, unknown> } {
    return { line: this.line(), fields: { ...this.fields(), ...extra } };
  }

  /** The progress line, e.g. `consumed 1,000  stored 990  rejected 10  duplicates 0  500/s  up 2.0s`. */
  line(): string {
    const elapsed = this.elapsedS;
    return `consumed ${formatCount(this.records)}  stored ${formatCount(this.inserted)}  rejected ${
      formatCount(this.rejected)
    }  duplicates ${formatCount(this.duplicates)}  ${formatCount(this.records / Math.max(elapsed, 1e-3))}/s  up ${
      formatDuration(elapsed)
    }`;
  }
}

/** Logs a committed batch: each alert it opened or closed (info), and the batch itself (debug). */
export function logBatch(log: Logger, b: BatchStats): void {
  for (const e of b.events) {
    log.info(e.type === "open" ? "alert opened" : "alert closed", {
      customer: e.alert.customerId,
      kind: e.alert.kind,
      severity: e.alert.severity,
      startedAt: e.alert.startedAt,
      peak: e.alert.peak,
    });
  }
  log.debug("batch committed", {
    records: b.records,
    inserted: b.inserted,
    rejected: b.rejected,
    writeMs: Math.round(b.writeMs),
  });
}
