/**
 * Alert events on Kafka: when the consumer opens or closes an episode it publishes an event to
 * the alerts topic (key = customer_id), after the alert's row is committed and before the
 * readings' offsets are committed. Delivery is at least once: a redelivered batch publishes the
 * same events again, with the same `event_id`, so a subscriber dedupes on it.
 *
 * Requires `--allow-net=<brokers>`.
 *
 * @module
 */
import "./patches/preload.ts"; // before kafkajs: see the module
import { CompressionTypes, Partitioners, type Producer } from "kafkajs";
import type { AlertEvent } from "../domain/episodes.ts";
import type { Kafka } from "./client.ts";

/** The JSON of one alert event on the alerts topic. */
export interface AlertEventMessage {
  /** Stable id: customer, kind, start and event type; the same on every redelivery. */
  event_id: string;
  /** `alert.opened` or `alert.closed`. */
  type: "alert.opened" | "alert.closed";
  /** Customer. */
  customer_id: string;
  /** `bradycardia` or `tachycardia`. */
  kind: string;
  /** `warning` or `critical`. */
  severity: string;
  /** First abnormal reading. */
  started_at: string;
  /** The reading that made it an episode. */
  opened_at: string;
  /** Last abnormal reading (closed events only). */
  ended_at: string | null;
  /** Lowest or highest bpm so far. */
  peak_bpm: number;
  /** Abnormal readings so far. */
  readings: number;
}

/**
 * The message for an event.
 *
 * @example
 * ```ts ignore
 * toEventMessage({ type: "open", alert }).event_id; // "CUST-001/tachycardia/2026-11-25T12:00:10.375000Z/opened"
 * ```
 */
export function toEventMessage(event: AlertEvent): AlertEventMessage {
  const a = event.alert;
  const type = event.type === "open" ? "alert.opened" : "alert.closed";
  return {
    event_id: `${a.customerId}/${a.kind}/${a.startedAt}/${event.type === "open" ? "opened" : "closed"}`,
    type,
    customer_id: a.customerId,
    kind: a.kind,
    severity: a.severity,
    started_at: a.startedAt,
    opened_at: a.openedAt,
    ended_at: a.endedAt,
    peak_bpm: a.peak,
    readings: a.readings,
  };
}

/**
 * Publishes alert events with an idempotent producer, one send at a time: the sink's writers
 * publish their batches' events concurrently, and a send that is retried (its sequence numbers
 * kept, `patches/send.ts`) must not be overtaken by the next send to the same partition, which the
 * broker would refuse as out of order.
 */
export class AlertPublisher {
  readonly #producer: Producer;
  readonly #topic: string;
  /** The send in progress (or the last one), which the next waits for. */
  #last: Promise<unknown> = Promise.resolve();

  /** @param kafka client; @param topic the alerts topic */
  constructor(kafka: Kafka, topic: string) {
    this.#topic = topic;
    this.#producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // unlimited, as kafkajs requires for idempotence; a stop request bounds the wait
      retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: Number.MAX_SAFE_INTEGER },
    });
  }

  /** Connects the producer. */
  connect(): Promise<void> {
    return this.#producer.connect();
  }

  /**
   * Sends a batch's events (one request) after any send in progress; resolves when the broker
   * acknowledged them.
   */
  async publish(events: AlertEvent[]): Promise<void> {
    if (events.length === 0) return;
    const messages = events.map((e) => ({ key: e.alert.customerId, value: JSON.stringify(toEventMessage(e)) }));
    const send = this.#last.catch(() => {}).then(() =>
      this.#producer.send({ topic: this.#topic, acks: -1, compression: CompressionTypes.None, messages })
    );
    this.#last = send;
    await send;
  }

  /** Disconnects. */
  disconnect(): Promise<void> {
    return this.#producer.disconnect();
  }
}
