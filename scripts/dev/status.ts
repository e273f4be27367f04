/**
 * The dev console's status line, from the programs' own `/metrics`: readings/s sent and stored,
 * rejections, lag, alerts and readiness. Pure: the caller fetches the text.
 *
 * @module
 */

/** Sums, per metric name, every sample of the Prometheus text format (all label sets together). */
export function sumSamples(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + value);
  }
  return sums;
}

/** The value of one sample with its exact label set, e.g. `alert_events_total{event="opened"}`. */
export function sampleValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** What the dev console reports, read at one moment. */
export interface Snapshot {
  /** `performance.now()` when read. */
  at: number;
  /** Messages the brokers acknowledged to the producer (undefined: producer not answering). */
  sent?: number;
  /** Messages consumed and committed. */
  consumed?: number;
  /** Readings stored. */
  stored?: number;
  /** Messages dead-lettered. */
  rejected?: number;
  /** Messages behind, summed over the consumer's partitions. */
  lag?: number;
  /** Alerts opened and closed. */
  opened?: number;
  closed?: number;
  /** The consumer's readiness (1 ready, 0 not). */
  ready?: number;
}

/** Reads a snapshot from the two `/metrics` texts (undefined where a program did not answer). */
export function snapshot(at: number, consumer: string | undefined, producer: string | undefined): Snapshot {
  const c = consumer === undefined ? undefined : sumSamples(consumer);
  const p = producer === undefined ? undefined : sumSamples(producer);
  const snap: Snapshot = { at };
  const set = <K extends keyof Snapshot>(key: K, value: number | undefined) => {
    if (value !== undefined) snap[key] = value as Snapshot[K];
  };
  set("sent", p?.get("heartbeat_producer_messages_acknowledged_total"));
  set("consumed", c?.get("heartbeat_consumer_messages_consumed_total"));
  set("stored", c?.get("heartbeat_consumer_readings_stored_total"));
  set("rejected", c?.get("heartbeat_consumer_rejected_total"));
  set("lag", c?.get("heartbeat_consumer_lag_messages") ?? (c === undefined ? undefined : 0));
  if (consumer !== undefined) {
    set("opened", sampleValue(consumer, 'heartbeat_consumer_alert_events_total{event="opened"}'));
    set("closed", sampleValue(consumer, 'heartbeat_consumer_alert_events_total{event="closed"}'));
  }
  set("ready", c?.get("heartbeat_consumer_ready"));
  return snap;
}

const rate = (now: Snapshot, before: Snapshot | undefined, key: "sent" | "stored" | "rejected") => {
  const a = before?.[key], b = now[key];
  if (a === undefined || b === undefined || now.at <= before!.at) return "?";
  return ((b - a) / ((now.at - before!.at) / 1000)).toFixed(1);
};

/**
 * The status line: rates since the previous snapshot, totals so far.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusLine } from "./status.ts";
 * const before = { at: 0, sent: 0, consumed: 0, stored: 0, rejected: 0 };
 * const now = { at: 10_000, sent: 200, consumed: 200, stored: 196, rejected: 4, lag: 3, opened: 2, closed: 1, ready: 1 };
 * assert.equal(
 *   statusLine(now, before),
 *   "sent 20.0/s  stored 19.6/s (196)  rejected 0.4/s (4)  lag 3  alerts 2 opened, 1 closed  consumer ready",
 * );
 * ```
 */
export function statusLine(now: Snapshot, before?: Snapshot): string {
  if (now.consumed === undefined) {
    return `sent ${rate(now, before, "sent")}/s  consumer not answering on its metrics port`;
  }
  return [
    `sent ${rate(now, before, "sent")}/s`,
    `stored ${rate(now, before, "stored")}/s (${now.stored ?? 0})`,
    `rejected ${rate(now, before, "rejected")}/s (${now.rejected ?? 0})`,
    `lag ${now.lag ?? "?"}`,
    `alerts ${now.opened ?? 0} opened, ${now.closed ?? 0} closed`,
    now.ready === 1 ? "consumer ready" : "consumer NOT ready (see its lines above)",
  ].join("  ");
}
